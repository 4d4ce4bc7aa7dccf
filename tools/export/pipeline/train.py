"""Train a U-ViT with AdaDiff exits: L = L_simple + λ·L_u + β·L_UAL.

    /usr/bin/python3 -m tools.export train --config tools/export/configs/fmnist-uvit13.json \
        --out runs/fmnist-uvit13 [--resume] [--max-minutes 60]

Several GPUs: `torchrun --nproc_per_node N -m tools.export train …` (DistributedDataParallel).
Two-stage recipe (the paper's): `--init-from PLAIN.pt --uem-only` fine-tunes UEMs (and, unless
--uem-only, the whole network under the layer-wise loss) from a plain U-ViT checkpoint.
"""

import argparse
import copy
import json
import os
import platform
import sys
import time

import torch

from ..core import config as config_mod
from ..core import data as data_mod
from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.diffusion import adadiff_losses, make_schedule, min_snr_weight
from ..core.errors import UserError, run_cli
from ..core.uvit import EXIT_HEAD_PREFIX, build


class TrainStep(torch.nn.Module):
    """The whole loss as one module, so DistributedDataParallel's forward hook sees it all."""

    def __init__(self, model, schedule, cfg):
        super().__init__()
        self.model = model
        self.register_buffer("alphas_cumprod", torch.tensor(schedule.alphas_cumprod, dtype=torch.float32))
        self.cfg = cfg

    def forward(self, x0, y, t, noise):
        ab = self.alphas_cumprod[t]
        x_t = ab.sqrt()[:, None, None, None] * x0 + (1 - ab).sqrt()[:, None, None, None] * noise
        eps_hats, uncertainties = self.model.forward_exits(x_t, t.float(), y)
        gamma = self.cfg["min_snr_gamma"]
        weight = min_snr_weight(ab, gamma) if gamma and gamma > 0 else None
        return adadiff_losses(
            eps_hats, uncertainties, noise, weight, self.cfg["lambda_u"], self.cfg["beta_ual"], self.cfg["distill"],
            self.cfg["uem_target"],
        )


def learning_rate(step, tcfg, warmup_from=0):
    """Warm up linearly from `warmup_from`, hold, then optionally cool down linearly to
    `min_lr_ratio`·lr over `decay_steps` from `decay_start`: a constant-lr run sits on a noise
    floor that only a cool-down removes, so a model can be trained long at full lr and finished
    by resuming with a decay."""
    warm = min(1.0, (step - warmup_from + 1) / max(1, tcfg["warmup_steps"]))
    start, length = tcfg["decay_start"], tcfg["decay_steps"]
    cool = 1.0
    if start is not None and length > 0 and step >= start:
        done = min(1.0, (step - start) / length)
        cool = 1.0 - done * (1.0 - tcfg["min_lr_ratio"])
    return tcfg["lr"] * warm * cool


def hardware_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"CPU ({platform.processor() or platform.machine()}, {n} thread{'' if n == 1 else 's'})"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="tools.export train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="model config JSON (tools/export/configs)")
    p.add_argument("--out", required=True, help="run directory: checkpoints and train.log.jsonl")
    p.add_argument("--data", default=None,
                   help="a preset name, a folder of images or of IDX files (default: the config's data.source)")
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="continue from OUT/checkpoint.pt (or the given file; weights-only files restart the optimiser)")
    p.add_argument("--init-from", default=None, help="start from a plain U-ViT checkpoint (two-stage recipe)")
    p.add_argument("--uem-only", action="store_true", help="train only the UEMs (stage two of the paper's recipe)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps in total")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this much wall time in this run")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = config_mod.load(args.config)
    tcfg = dict(cfg["train"])
    if args.uem_only:
        tcfg["train_uem_only"] = True

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    if args.device:
        device = torch.device(args.device)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if distributed:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    is_main = rank == 0

    source = args.data or cfg["data"]["source"]
    dataset = data_mod.load(source, "train", data_mod.Options.from_config(cfg))
    cfg = config_mod.with_data(cfg, dataset)
    cfg["data"]["source"] = source
    if is_main:
        for note in dataset.notes:
            print(f"data: {note}", file=sys.stderr)
    x_all = torch.from_numpy(dataset.model_range()).to(device)
    y_all = torch.from_numpy(dataset.labels).to(device)

    schedule = make_schedule(cfg["schedule"])
    if schedule.kind != "ddpm-linear":
        raise UserError(f"schedule.type {schedule.kind!r} is for imported checkpoints (tools.export import-official); "
                        "training here uses ddpm-linear")
    torch.manual_seed(tcfg["seed"])  # the initial weights: the same seed trains the same model
    model = build(cfg["model"]).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    state = {"step": 0, "images_seen": 0, "train_seconds": 0.0, "hardware": [], "last": {}}
    opt_state = None

    os.makedirs(args.out, exist_ok=True)
    resume_path = os.path.join(args.out, "checkpoint.pt") if args.resume == "auto" else args.resume
    if resume_path and args.resume == "auto" and not os.path.exists(resume_path):
        weights = os.path.join(args.out, "weights.pt")
        resume_path = weights if os.path.exists(weights) else None
        if resume_path is None and is_main:
            print(f"no checkpoint in {args.out}: starting from scratch", file=sys.stderr)
    if resume_path:
        ckpt = load_checkpoint(resume_path, map_location=device)
        # compared as the config module reads it, so keys added since the checkpoint (with their defaults) match
        if config_mod.from_dict(ckpt.get("config", {}), resume_path)["model"] != cfg["model"]:
            raise UserError(f"{resume_path} was trained with another model config; use its config or start afresh")
        if "model" not in ckpt and "ema" not in ckpt:
            raise UserError(f"{resume_path} holds no weights (neither 'model' nor 'ema')")
        # a compact resume point (tools.export checkpoint compact) keeps only the EMA: the raw weights restart from it
        model.load_state_dict(ckpt.get("model", ckpt.get("ema")))
        ema.load_state_dict(ckpt.get("ema", ckpt.get("model")))
        opt_state = ckpt.get("optimizer")
        for k in state:
            state[k] = ckpt.get(k, state[k])
        if is_main:
            print(f"resumed {resume_path} at step {state['step']}", file=sys.stderr)
    elif args.init_from:
        ckpt = load_checkpoint(args.init_from, map_location=device)
        weights = ckpt.get("ema") or ckpt.get("model") or ckpt
        missing, unexpected = model.load_state_dict(weights, strict=False)
        heads = EXIT_HEAD_PREFIX[model.exit_head]
        foreign = [k for k in missing if not k.startswith(heads)]
        if foreign or unexpected:
            raise UserError(f"{args.init_from} does not fit this config: missing {foreign[:5]}, unexpected {unexpected[:5]}")
        ema.load_state_dict(model.state_dict())

    for n, p in model.named_parameters():  # frozen weights get no gradients (and DDP expects none)
        p.requires_grad_(n.startswith(EXIT_HEAD_PREFIX[model.exit_head]) or not tcfg["train_uem_only"])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"], betas=tuple(tcfg["betas"]))
    warmup_from = 0
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    elif resume_path:
        warmup_from = state["step"]  # fresh optimiser moments: warm up again

    step_module = TrainStep(model, schedule, tcfg).to(device)
    runner = step_module
    if distributed:
        runner = torch.nn.parallel.DistributedDataParallel(step_module, device_ids=[device] if device.type == "cuda" else None)
        # DDP has just given every rank rank 0's weights; the EMA was copied before, from each rank's
        # own random init, and would stay apart (measured: 9e-4 after 6 steps) unless it starts from them
        if not resume_path:
            ema.load_state_dict(model.state_dict())
    world = torch.distributed.get_world_size() if distributed else 1

    gen = torch.Generator(device="cpu").manual_seed(tcfg["seed"] * 1000 + rank + state["step"])
    n = x_all.shape[0]
    bs = tcfg["batch_size"]
    log_path = os.path.join(args.out, "train.log.jsonl")
    log = open(log_path, "a") if is_main else None
    t_start = time.time()
    last_ckpt = t_start
    segment = {"hardware": f"{world}× {hardware_name(device)}", "seconds": 0.0}
    state["hardware"] = list(state["hardware"]) + [segment]

    def save():
        segment["seconds"] = time.time() - t_start
        payload = {
            "config": cfg,
            "dataset": dataset.describe(),
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            **state,
            "train_seconds": base_seconds + segment["seconds"],
        }
        save_checkpoint(dict(payload, optimizer=opt.state_dict()), os.path.join(args.out, "checkpoint.pt"))
        save_checkpoint(payload, os.path.join(args.out, "weights.pt"))

    base_seconds = state["train_seconds"]
    model.train()
    window = []
    try:
        while True:
            if args.steps is not None and state["step"] >= args.steps:
                break
            if args.max_minutes is not None and time.time() - t_start > args.max_minutes * 60:
                break
            step = state["step"]
            for g in opt.param_groups:
                g["lr"] = learning_rate(step, tcfg, warmup_from)
            idx = torch.randint(0, n, (bs,), generator=gen).to(device)
            x0, y = x_all[idx], y_all[idx].clone()
            if tcfg["hflip"]:
                mirror = (torch.rand(bs, generator=gen) < 0.5).to(device)
                x0 = torch.where(mirror[:, None, None, None], x0.flip(3), x0)
            drop = torch.rand(bs, generator=gen).to(device) < tcfg["p_uncond"]
            y[drop] = cfg["model"]["num_classes"]
            t = torch.randint(0, schedule.num_timesteps, (bs,), generator=gen).to(device)
            noise = torch.randn(x0.shape, generator=gen).to(device)
            out = runner(x0, y, t, noise)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, tcfg["grad_clip"])
            opt.step()
            with torch.no_grad():
                decay = min(tcfg["ema_decay"], (1 + step) / (10 + step))
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
            state["step"] += 1
            state["images_seen"] += bs * world
            window.append(time.time())
            if is_main and state["step"] % tcfg["log_every"] == 0:
                rate = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 else 0.0
                window = window[-1:]
                rec = {
                    "step": state["step"],
                    "images": state["images_seen"],
                    "minutes": round((base_seconds + time.time() - t_start) / 60, 2),
                    "loss": round(out["loss"].item(), 5),
                    "simple": round(out["simple"].item(), 5),
                    "u": round(out["u"].item(), 5),
                    "ual": round(out["ual"].item(), 5),
                    "distill": round(out["distill"].item(), 5),
                    "grad_norm": round(float(grad_norm), 3),
                    "lr": opt.param_groups[0]["lr"],
                    "it_per_s": round(rate, 3),
                    "layer_uncertainty": [round(v, 3) for v in out["layer_uncertainty"].tolist()],
                    "layer_mse": [round(v, 4) for v in out["layer_mse"].tolist()],
                }
                state["last"] = {k: rec[k] for k in ("loss", "simple", "u", "ual")}
                print(json.dumps(rec), flush=True)
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if is_main and time.time() - last_ckpt > tcfg["checkpoint_minutes"] * 60:
                save()
                last_ckpt = time.time()
    finally:
        if is_main and state["step"] > 0:
            save()
            print(f"saved {args.out}/checkpoint.pt at step {state['step']}", file=sys.stderr)
        if distributed:
            try:
                report_rank_agreement(model, ema, rank)
                # no rank tears the group down while another still uses it: a gloo rank whose peer
                # had already gone spun in destroy_process_group at 100 % CPU (seen once in CI)
                torch.distributed.barrier()
            finally:
                torch.distributed.destroy_process_group()


def report_rank_agreement(model, ema, rank):
    """Every rank compares its weights (and EMA) with rank 0's: data-parallel training must leave them
    equal, and a rank that drifted (a missed all-reduce, an unsynchronised buffer) shows here."""
    # on the model's device: nccl broadcasts CUDA tensors, gloo CPU ones
    flat = torch.cat([p.detach().reshape(-1).float() for m in (model, ema) for p in m.parameters()])
    ref = flat.clone()
    torch.distributed.broadcast(ref, src=0)
    diff = (flat - ref).abs().max().item()
    print(json.dumps({"rank": rank, "worldSize": torch.distributed.get_world_size(),
                      "maxAbsDiffFromRank0": diff}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    run_cli(main)
