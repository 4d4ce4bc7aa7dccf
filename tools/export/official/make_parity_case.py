"""A tiny parity case made with the official AdaDiff code: its weights, inputs, exits and outputs.

Run from the repository root (Debian's python3 with torch ≥ 1.13 is enough):

    git clone https://github.com/Tangshengku/AdaDiff /tmp/official-adadiff   # any checkout, outside this repo
    /usr/bin/python3 tools/export/official/make_parity_case.py /tmp/official-adadiff test/fixtures/official/tiny \
        --official-commit 240f5b6347005cfac6ee1dd2363f0f0002ccf9f4

The first argument is a checkout of github.com/Tangshengku/AdaDiff, the second the output folder.
--official-commit records which commit the checkout is (read from git when the checkout is a git
work tree). Nothing of the official code is copied here: the script imports the checkout's
`libs/uvit.py` (class UViT, exit heads `lte_classifer`) and runs it. That file imports `einops` and
`torchvision.utils.save_image`; where they are not installed, minimal stand-ins (einops.rearrange
for the patterns uvit.py uses; a save_image that refuses) are written to a temporary folder for the
run and removed afterwards. timm is not needed: uvit.py imports the repository's own libs/timm.py.

What it writes (the fixtures in the format of tools/export/pipeline/export.py's FixtureWriter:
fixtures.bin, float32/int64 little-endian, indexed by fixtures.json):

- nnet_ema.pth: torch.save of the bare state_dict, exactly how the official TrainState.save
  writes nnet_ema.pth (utils.py), so the project's converter can be tested on a real file.
- config.json: the official UViT constructor arguments (the `config.nnet` dict of the official
  configs, minus `name`).
- fixtures.json / fixtures.bin: for 3 images x 3 continuous times t x 3 thresholds, each image run
  alone (batch 1, because the official exit test averages over the whole batch tensor) through the
  official UViT.forward with `thres`: the exit block and the returned tensor; per (image, t) the
  full-depth output (is_train=True: no exit test) and every block's certainty mean. (The exit rule
  reads only a map's mean, so the maps themselves are not stored; 3 thresholds rather than 4 keep
  the folder under 500 KB.) fixtures.json also lists the exits and, for information, what the
  official forward does with the 3 images as one batch (one exit for all, from the batch mean).

Block numbering: the official model has in_blocks.0..n-1, mid_block, out_blocks.0..n-1 (n = depth//2)
and exit heads lte_classifer.0..2n in the same execution order (in-block k → k, the mid-block → n,
out-block k → n+1+k). That is also the project's 0..num_blocks-1 order; every block index stored here
is in it. An exit at block i returns the shared head (norm → decoder_pred → unpatchify → final_layer)
on block i's tokens: the same tensor as the official `inner_state[i]`. A run that finds no confident
block returns the full-depth output, recorded as exit block 2n (the last).

Time: the network receives 999·t (sde.ScoreModel.predict: `self.nnet(xt, t * 999)`), t ∈ (0, 1]
continuous; inputs.t holds t, inputs.timesteps the float32 999·t that UViT.forward received.

The weights are drawn with a fixed seed, then scaled up from the official init (whose std-0.02
linears make every block almost the identity), so a wrong token order, skip order or head would
show. The exit heads are set (per block, one direction in token space along which the tokens move
with t and with the image, plus per-row noise, and a per-block bias) so that the certainty means
differ by image and t. Thresholds are then chosen on a 0.005 grid, none within MARGIN of a mean:
"low", where every run exits at block 1 (block 0 is confident but the patience rule passes it over);
"mixed", where the images (and the times) exit at different blocks and the patience counter decides
a run beyond block 1; "high", where nothing is confident (full depth). Every exit the official forward
takes is checked against the rule as NOTES.md states it.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, REPO_ROOT)
from tools.export.pipeline.export import FixtureWriter  # noqa: E402  (before the official checkout's `tools`)

SEED = 20240909
# The official CIFAR-10 config (configs/cifar10_uvit_small.py) scaled down: its flags kept
# (qkv_bias False, mlp_time_embed False, num_classes -1, conv/skip at the constructor's defaults
# True); mlp_ratio 2 instead of 4 keeps nnet_ema.pth and the fixtures together under 500 KB.
CONFIG = dict(img_size=16, patch_size=4, in_chans=3, embed_dim=32, depth=6, num_heads=2, mlp_ratio=2,
              qkv_bias=False, mlp_time_embed=False, num_classes=-1, conv=True, skip=True)
TIMES = [0.02, 0.5, 0.98]  # continuous t; the network is fed 999·t
IMAGE_OFFSETS = [-0.5, 0.0, 0.5]  # x = N(0, 1) + offset per image: images the exit heads tell apart
# Designed certainty level of each block's exit head (execution order): in-block 0 confident and
# in-block 1 not at middling thresholds, so patience skips 0 and waits for in-block 2 or beyond.
LEVELS = [0.88, 0.70, 0.86, 0.78, 0.84, 0.90, 0.95]
SPREAD = 0.35  # logit shift per standard deviation of the image-dependent feature
MARGIN = 2e-3  # no certainty mean lies closer than this to a threshold

EINOPS_SHIM = '''
"""Stand-in for einops.rearrange (written by make_parity_case.py for one run; not einops)."""
import re
import math


def _parse(side):
    groups = []
    for m in re.finditer(r"\\(([^)]*)\\)|(\\S+)", side):
        groups.append(m.group(1).split() if m.group(1) is not None else [m.group(2)])
    return groups


def rearrange(x, pattern, **sizes):
    left, right = (s.strip() for s in pattern.split("->"))
    lg, rg = _parse(left), _parse(right)
    assert len(lg) == x.dim(), (pattern, tuple(x.shape))
    known = dict(sizes)
    for group, n in zip(lg, x.shape):
        unknown = [a for a in group if a not in known]
        assert len(unknown) <= 1, (pattern, group)
        if unknown:
            known[unknown[0]] = n // math.prod(known[a] for a in group if a in known)
    axes = [a for g in lg for a in g]
    x = x.reshape([known[a] for a in axes])
    order = [a for g in rg for a in g]
    x = x.permute([axes.index(a) for a in order])
    return x.reshape([math.prod(known[a] for a in g) for g in rg])
'''

SAVE_IMAGE_SHIM = '''
def save_image(*args, **kwargs):
    raise RuntimeError("torchvision is not installed; make_parity_case.py never saves images")
'''


def install_shims():
    """A temporary folder with einops / torchvision stand-ins where the real ones are missing."""
    missing = []
    for mod in ("einops", "torchvision.utils"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if not missing:
        return None
    folder = tempfile.mkdtemp(prefix="official-shims-")
    if "einops" in missing:
        with open(os.path.join(folder, "einops.py"), "w") as f:
            f.write(EINOPS_SHIM)
    if "torchvision.utils" in missing:
        os.makedirs(os.path.join(folder, "torchvision"))
        open(os.path.join(folder, "torchvision", "__init__.py"), "w").close()
        with open(os.path.join(folder, "torchvision", "utils.py"), "w") as f:
            f.write(SAVE_IMAGE_SHIM)
    sys.path.insert(0, folder)
    return folder


def official_commit(checkout, given):
    if given:
        return given
    try:
        return subprocess.check_output(["git", "-C", checkout, "rev-parse", "HEAD"], text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def scale_up_weights(model, gen):
    """Redraw every non-exit-head weight at a scale where each block changes its tokens."""
    for name, m in model.named_modules():
        if name.startswith("lte_classifer"):
            continue
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) / fan_in ** 0.5
            if m.bias is not None:
                m.bias.data = 0.05 * torch.randn(m.bias.shape, generator=gen)
        elif isinstance(m, torch.nn.LayerNorm):
            m.weight.data = 1 + 0.1 * torch.randn(m.weight.shape, generator=gen)
            m.bias.data = 0.1 * torch.randn(m.bias.shape, generator=gen)
    model.pos_embed.data = 0.5 * torch.randn(model.pos_embed.shape, generator=gen)


def blocks_of(model):
    return [*model.in_blocks, model.mid_block, *model.out_blocks]


@torch.no_grad()
def patch_tokens(model, x, timesteps):
    """Each block's output patch tokens [num_blocks, B, L, D] (forward hooks on the official blocks)."""
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o[:, model.extras:, :])) for b in blocks_of(model)]
    try:
        model(x, timesteps, is_train=True)
    finally:
        for h in hooks:
            h.remove()
    return torch.stack(seen)


@torch.no_grad()
def set_exit_heads(model, xs, timesteps_all, gen):
    """Exit head i: certainty ≈ σ(logit(LEVELS[i]) + SPREAD·(z_image + z_time)), z_image and z_time the
    mean patch token's projections on the directions along which block i's tokens move with the image
    and (orthogonal to that) with t, each standardised over its own factor; plus per-row noise so the
    map varies by pixel."""
    D, P = model.embed_dim, model.patch_dim
    tok = torch.stack([torch.stack([patch_tokens(model, x[None], ts[None])[:, 0].mean(dim=1) for ts in timesteps_all])
                       for x in xs])  # [image, t, block, D]: each run's mean patch token per block
    for i, head in enumerate(model.lte_classifer):
        h = tok[:, :, i]  # [image, t, D]
        u_img = h[-1].mean(0) - h[0].mean(0)
        u_img = u_img / u_img.norm()
        u_t = h[:, -1].mean(0) - h[:, 0].mean(0)
        u_t = u_t - (u_t @ u_img) * u_img
        u_t = u_t / u_t.norm()
        a_img = SPREAD / float((h @ u_img).mean(1).std())
        a_t = SPREAD / float((h @ u_t).mean(0).std())
        w = a_img * u_img + a_t * u_t
        logit = float(np.log(LEVELS[i] / (1 - LEVELS[i])))
        head.lte.weight.data = w[None, :].repeat(P, 1) + 0.3 * torch.randn(P, D, generator=gen) / D ** 0.5
        head.lte.bias.data = (logit - float((h @ w).mean())) + 0.1 * torch.randn(P, generator=gen)


def official_rule(means, thr, n_in):
    """The exit of UViT.forward as NOTES.md reads it, from one image's per-block certainty means."""
    m = np.asarray(means, dtype=np.float32)
    thr = np.float32(thr)  # torch compares a float32 tensor with the Python float in float32
    patient = False
    for i in range(n_in):
        if m[i] > thr:
            if patient:
                return i
            patient = True
    for i in range(n_in, 2 * n_in + 1):
        if m[i] > thr:
            return i
    return 2 * n_in


def choose_thresholds(means, n_in):
    """Three thresholds on a 0.005 grid, none within MARGIN of any certainty mean:
    low: in-blocks 0 and 1 both confident in every run, so every run exits at block 1, never 0;
    mixed: the most distinct exits among the images at each t (and among the t of each image), among
      thresholds where the patience counter decides some run beyond block 1 (its first confident
      in-block is passed over: it exits at a later in-block or, with a single confident in-block,
      goes on to the mid/out-blocks);
    high: no block confident anywhere: full depth."""
    I, T, _ = means.shape
    flat = means.reshape(-1, means.shape[-1])
    grid = [round(k * 0.005, 3) for k in range(60, 200)]
    ok = [g for g in grid if np.abs(flat - g).min() >= MARGIN]

    def exits(g):
        return np.array([[official_rule(means[b, k], g, n_in) for k in range(T)] for b in range(I)])

    def patience_runs(g):
        n = 0
        for row in flat:
            conf = [i for i in range(n_in) if row[i] > g]
            if conf and official_rule(row, g, n_in) not in (conf[0], 1):
                n += 1
        return n

    def spread(g):
        e = exits(g)
        return (sum(len(set(e[:, k])) for k in range(T)) + sum(len(set(e[b])) for b in range(I)), patience_runs(g))

    low = [g for g in ok if (exits(g) == 1).all()]
    high = [g for g in ok if (flat <= g).all()]
    if not low or not high:
        raise SystemExit(f"no low/high threshold with margin {MARGIN}; change LEVELS or SEED")
    mids = [g for g in ok if low[-1] < g < high[0] and patience_runs(g)]
    if not mids:
        raise SystemExit("no threshold where the patience counter decides; change LEVELS or SEED")
    mixed = max(mids, key=spread)
    return [low[-1], mixed, high[0]], dict(low=low[-1], mixed=mixed, high=high[0])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("official", help="a checkout of github.com/Tangshengku/AdaDiff")
    p.add_argument("out", help="output folder, e.g. test/fixtures/official/tiny")
    p.add_argument("--official-commit", default=None, help="the checkout's commit (default: git rev-parse HEAD)")
    args = p.parse_args(argv)

    official = os.path.abspath(args.official)
    uvit_py = os.path.join(official, "libs", "uvit.py")
    if not os.path.isfile(uvit_py):
        raise SystemExit(f"{uvit_py} not found: the first argument must be a checkout of Tangshengku/AdaDiff")
    shims = install_shims()
    try:
        sys.path.insert(0, official)
        from libs import uvit as official_uvit  # noqa: E402  (the official file, run as it is)

        torch.manual_seed(SEED)
        np.random.seed(SEED)
        gen = torch.Generator().manual_seed(SEED)
        model = official_uvit.UViT(**CONFIG)
        model.eval()
        scale_up_weights(model, gen)

        n_in = len(model.in_blocks)
        nb = 2 * n_in + 1
        C, S = CONFIG["in_chans"], CONFIG["img_size"]
        xs = torch.randn(len(IMAGE_OFFSETS), C, S, S, generator=gen)
        xs += torch.tensor(IMAGE_OFFSETS)[:, None, None, None]
        ts = torch.tensor(TIMES, dtype=torch.float32)
        timesteps = ts * 999  # sde.ScoreModel.predict: self.nnet(xt, t * 999), in t's float32
        set_exit_heads(model, xs, timesteps, gen)

        I, T = len(xs), len(ts)
        full = torch.zeros(I, T, C, S, S)
        means = np.zeros((I, T, nb), dtype=np.float32)
        with torch.no_grad():
            for b in range(I):
                for k in range(T):
                    out, inner, lte = model(xs[b:b + 1], timesteps[k:k + 1], is_train=True)
                    assert len(inner) == nb and len(lte) == nb
                    assert torch.equal(out, inner[-1])
                    full[b, k] = out[0]
                    means[b, k] = [float(torch.mean(v.view(-1))) for v in lte]

        thresholds, roles = choose_thresholds(means, n_in)
        exit_block = np.zeros((I, T, len(thresholds)), dtype=np.int64)
        exit_out = torch.zeros(I, T, len(thresholds), C, S, S)
        with torch.no_grad():
            for b in range(I):
                for k in range(T):
                    for j, thr in enumerate(thresholds):
                        out, inner, _ = model(xs[b:b + 1], timesteps[k:k + 1], thres=thr)
                        e = len(inner) - 1  # inner_state gets one entry per block run, the exit's last
                        assert torch.equal(out, inner[-1])
                        assert e == official_rule(means[b, k], thr, n_in), (b, k, thr, e, means[b, k])
                        exit_block[b, k, j] = e
                        exit_out[b, k, j] = out[0]
            # the batch run the official sampler would do with several images: one exit for all
            batch = []
            for k in range(T):
                for thr in thresholds:
                    _, inner, lte = model(xs, timesteps[k:k + 1].repeat(I), thres=thr)
                    batch_means = [float(torch.mean(v.view(-1))) for v in lte]
                    batch.append({"t": TIMES[k], "threshold": thr, "exitBlock": len(inner) - 1,
                                  "perImageExits": exit_block[:, k, thresholds.index(thr)].tolist(),
                                  "batchCertaintyMeans": [round(v, 6) for v in batch_means]})

        os.makedirs(args.out, exist_ok=True)
        torch.save(model.state_dict(), os.path.join(args.out, "nnet_ema.pth"))
        with open(os.path.join(args.out, "config.json"), "w") as f:
            json.dump({"name": "uvit", **CONFIG}, f, indent=1)
            f.write("\n")

        fx = FixtureWriter()
        fx.add("inputs.x", xs)
        fx.add("inputs.t", ts)
        fx.add("inputs.timesteps", timesteps)
        fx.add("thresholds", torch.tensor(thresholds, dtype=torch.float32))
        fx.add("full.out", full)
        fx.add("certainty.mean", torch.from_numpy(means))
        fx.add("exit.block", exit_block)
        fx.add("exit.out", exit_out)
        with open(uvit_py, "rb") as f:
            uvit_sha = hashlib.sha256(f.read()).hexdigest()
        dist = float(np.abs(means.reshape(-1)[:, None] - np.asarray(thresholds)[None]).min())
        meta = {
            "source": {"repository": "https://github.com/Tangshengku/AdaDiff",
                       "commit": official_commit(official, args.official_commit),
                       "libs/uvit.py sha256": uvit_sha, "class": "libs.uvit.UViT",
                       "attentionMode": official_uvit.ATTENTION_MODE, "torch": torch.__version__,
                       "seed": SEED, "script": "tools/export/official/make_parity_case.py"},
            "config": CONFIG,
            "call": "out, inner_state, lte = UViT.forward(x[b:b+1], timesteps[k:k+1], thres=threshold); "
                    "full depth: is_train=True; y not passed (unconditional)",
            "time": "timesteps = 999 * t (float32), t continuous in (0, 1] (sde.ScoreModel.predict)",
            "blockOrder": {"in_blocks.k": "k", "mid_block": n_in, "out_blocks.k": f"{n_in + 1} + k",
                           "lte_classifer.i": "i (same order)", "numBlocks": nb},
            "exitRule": "per image (batch 1): certainty mean m_i = mean of sigmoid map over C·H·W; confident "
                        "iff m_i > threshold (float32); in-blocks exit at the SECOND confident in-block "
                        "(counter never resets, never block 0); mid and out-blocks at the first confident; "
                        "none confident → full depth (recorded as the last block)",
            "thresholdRoles": roles,
            "minDistanceMeanToThreshold": round(dist, 6),
            "dims": {"inputs.x": "[image, C, H, W]", "inputs.t": "[t]", "inputs.timesteps": "[t]",
                     "full.out": "[image, t, C, H, W]", "certainty.mean": "[image, t, block]",
                     "exit.block": "[image, t, threshold] in 0..numBlocks-1",
                     "exit.out": "[image, t, threshold, C, H, W]"},
            "exits": {f"t={TIMES[k]}": {f"threshold={thr}": exit_block[:, k, j].tolist()
                                        for j, thr in enumerate(thresholds)} for k in range(T)},
            "batchRuns": batch,
        }
        fx.write(args.out, meta)
        print(json.dumps({"thresholds": thresholds, "roles": roles, "exits": meta["exits"],
                          "minDistance": dist}, indent=1))
        print("certainty means [image, t, block]:\n", np.round(means, 4))
    finally:
        if shims:
            shutil.rmtree(shims, ignore_errors=True)


if __name__ == "__main__":
    main()
