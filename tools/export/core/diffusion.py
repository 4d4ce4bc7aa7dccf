"""Noise schedules, AdaDiff's training losses, the exit rules, and reference samplers with exits.

The samplers here are the reference the TypeScript runtime is tested against: its timesteps
(`NoiseSchedule.timesteps`), updates (`ddim_step` …) and exit rules are written the same way there.
A timestep is always what the network is fed: an integer DDPM step, or 999·t for the official
AdaDiff code's continuous VP-SDE.
"""

import math

import numpy as np
import torch


class NoiseSchedule:
    """Discrete DDPM schedule with linearly spaced betas (Ho et al.); timesteps 0 … T−1."""

    kind = "ddpm-linear"

    def __init__(self, num_timesteps=1000, beta_start=1e-4, beta_end=0.02):
        self.num_timesteps = num_timesteps
        self.beta_start, self.beta_end = beta_start, beta_end
        betas = np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)
        self.alphas_cumprod = np.cumprod(1.0 - betas)

    def to_manifest(self):
        return {
            "type": "ddpm-linear",
            "numTimesteps": self.num_timesteps,
            "betaStart": self.beta_start,
            "betaEnd": self.beta_end,
            "predicts": "epsilon",
        }

    def ab(self, t, device=None):
        """ᾱ_t for integer timesteps t (tensor) as float32."""
        table = torch.as_tensor(self.alphas_cumprod, dtype=torch.float32, device=device)
        return table[t]

    def alpha_bar(self, t):
        """ᾱ at one timestep; −1 (after the last step) is the clean image, ᾱ = 1."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def timesteps(self, steps):
        return ddim_timesteps(self.num_timesteps, steps)


class VPContinuous:
    """The official AdaDiff code's continuous VP-SDE (Song et al. 2021): β(s) = β_min + (β_max − β_min)·s
    for s ∈ (0, 1], ᾱ(s) = exp(−β_min·s − ½(β_max − β_min)·s²). Its timesteps are what the network is
    fed, t = time_scale·s (999·s), so they compare and print like the discrete ones."""

    kind = "vp-continuous"

    def __init__(self, beta_min=0.1, beta_max=20.0, time_scale=999, t_min=1e-3):
        self.beta_min, self.beta_max, self.time_scale, self.t_min = beta_min, beta_max, time_scale, t_min
        self.num_timesteps = time_scale + 1  # timesteps lie in [0, time_scale]

    def to_manifest(self):
        return {
            "type": "vp-continuous",
            "betaMin": self.beta_min,
            "betaMax": self.beta_max,
            "timeScale": self.time_scale,
            "tMin": self.t_min,
            "predicts": "epsilon",
        }

    def alpha_bar(self, t):
        if t < 0:
            return 1.0
        s = t / self.time_scale
        return math.exp(-self.beta_min * s - 0.5 * (self.beta_max - self.beta_min) * s * s)

    def beta(self, t):
        return self.beta_min + (self.beta_max - self.beta_min) * t / self.time_scale

    def timesteps(self, steps):
        """s from 1 down to t_min in equal steps (the official Euler–Maruyama grid), as network time."""
        if steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {steps}")
        s = np.linspace(1.0, self.t_min, steps) if steps > 1 else np.array([1.0])
        return [float(self.time_scale * v) for v in s]

    def ab(self, t, device=None):
        raise NotImplementedError("models with a continuous VP-SDE are imported (tools.export import-official), "
                                  "not trained here")


SCHEDULES = {"ddpm-linear": NoiseSchedule, "vp-continuous": VPContinuous}


def make_schedule(cfg):
    """The config's `schedule` block as a schedule object (its `type` picks the kind)."""
    kind = cfg.get("type", "ddpm-linear")
    keys = {"ddpm-linear": ("num_timesteps", "beta_start", "beta_end"),
            "vp-continuous": ("beta_min", "beta_max", "time_scale", "t_min")}[kind]
    return SCHEDULES[kind](**{k: cfg[k] for k in keys if k in cfg})


def pseudo_uncertainty(eps_hat, eps):
    """AdaDiff's UEM target: û = tanh(|ε̂ − ε|), element-wise and detached."""
    return torch.tanh((eps_hat - eps).abs()).detach()


UEM_TARGETS = ("noise", "final")


def adadiff_losses(eps_hats, uncertainties, eps, sample_weight=None, lam=1.0, beta=1.0, distill=0.0,
                   uem_target="noise"):
    """L = L_simple + λ·L_u + β·L_UAL (+ δ·L_distill) for one batch.

    eps_hats, uncertainties: per-exit lists of [B, C, H, W]; eps: the true noise.
    sample_weight [B] (e.g. min-SNR) scales the noise-prediction terms per sample.
    L_UAL's layer weights are w_i ∝ 1 − mean(u_i), normalised to sum 1 over layers (as the
    official code does with the batch-mean certainty), and carry no gradient.
    L_distill (not in the paper; δ = 0 by default) is L_UAL with the final exit's detached estimate
    in place of the true noise: it pulls the exits towards what full depth would say, which is
    what an early exit's cost in sample quality depends on. One run at δ 5 hurt full depth and the
    exits alike (docs/research-log.md); it is off until a setting is found that helps.
    uem_target "final" (issue #19) trains each UEM against tanh(|ε̂ᵢ − ε̂_final|) instead of the paper's
    tanh(|ε̂ᵢ − ε|): an exit costs what it moves the final estimate, and the true noise's part of the
    error is one no exit can remove, so the paper's target hides where more depth would still help.
    In joint training it also moves L_UAL's layer weights (the last UEM's target is 0, so its weight
    grows); it has only been used with the backbone frozen (train_uem_only), where L_UAL trains nothing.
    """
    if uem_target not in UEM_TARGETS:
        raise ValueError(f"uem_target must be one of {UEM_TARGETS}, got {uem_target!r}")
    B = eps.shape[0]
    w = torch.ones(B, device=eps.device) if sample_weight is None else sample_weight
    per_layer_mse = [((e - eps) ** 2).reshape(B, -1).mean(1) for e in eps_hats]
    l_simple = (w * per_layer_mse[-1]).mean()
    reference = eps if uem_target == "noise" else eps_hats[-1].detach()
    l_u_terms = [((u - pseudo_uncertainty(e, reference)) ** 2).mean() for e, u in zip(eps_hats, uncertainties)]
    l_u = torch.stack(l_u_terms).sum()
    certainty = torch.stack([1.0 - u.mean() for u in uncertainties]).detach()
    layer_w = certainty / certainty.sum()
    l_ual = sum(lw * (w * m).mean() for lw, m in zip(layer_w, per_layer_mse))
    total = l_simple + lam * l_u + beta * l_ual
    l_distill = torch.zeros((), device=eps.device)
    if distill:
        final = eps_hats[-1].detach()
        gaps = [((e - final) ** 2).reshape(B, -1).mean(1) for e in eps_hats[:-1]]
        l_distill = sum(lw * (w * g).mean() for lw, g in zip(layer_w[:-1], gaps))
        total = total + distill * l_distill
    return {
        "loss": total,
        "simple": l_simple.detach(),
        "u": l_u.detach(),
        "ual": l_ual.detach(),
        "distill": l_distill.detach(),
        "layer_mse": torch.stack([m.mean() for m in per_layer_mse]).detach(),
        "layer_uncertainty": torch.stack([u.mean() for u in uncertainties]).detach(),
    }


def min_snr_weight(ab, gamma):
    """Min-SNR-γ weighting for ε-prediction (Hang et al. 2023): min(SNR, γ) / SNR."""
    snr = ab / (1.0 - ab)
    return torch.clamp(snr, max=gamma) / snr


def ddim_timesteps(num_timesteps, steps):
    """'Trailing' spacing: starts at T−1 so few-step sampling begins from pure noise."""
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be in 1..{num_timesteps}, got {steps}")
    ratio = num_timesteps / steps
    return [int(round(num_timesteps - k * ratio)) - 1 for k in range(steps)]


def predict_x0(x, eps, ab_t):
    """x̂0 = (x − √(1−ᾱ)·ε) / √ᾱ, clipped to the data range [-1, 1]."""
    return ((x - (1 - ab_t) ** 0.5 * eps) / ab_t**0.5).clamp(-1, 1)


def ddim_step(x, eps, ab_t, ab_prev, eta=0.0, noise=None):
    """One DDIM update (Song et al.); x0 is clipped to the data range [-1, 1].

    The direction term uses the noise that the clipped x0 implies, not the model's: stepping with
    the raw ε after clipping x0 leaves a mismatch that grows with every step under guidance (FID
    70 → 151 from 20 to 50 steps on the step-9721 model; diffusers' `use_clipped_model_output`).
    """
    x0 = predict_x0(x, eps, ab_t)
    eps = (x - ab_t**0.5 * x0) / (1 - ab_t) ** 0.5
    sigma = eta * ((1 - ab_prev) / (1 - ab_t)) ** 0.5 * (1 - ab_t / ab_prev) ** 0.5
    direction = max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps
    x_prev = ab_prev**0.5 * x0 + direction
    if sigma > 0:
        x_prev = x_prev + sigma * noise
    return x_prev, x0


def ddpm_step(x, eps, ab_t, ab_prev, noise=None):
    """Ancestral DDPM over strided steps: a sample of the posterior q(x_prev | x_t, x̂0)."""
    alpha = ab_t / ab_prev
    beta = 1 - alpha
    x0 = predict_x0(x, eps, ab_t)
    mean = (ab_prev**0.5 * beta / (1 - ab_t)) * x0 + (alpha**0.5 * (1 - ab_prev) / (1 - ab_t)) * x
    std = (beta * (1 - ab_prev) / (1 - ab_t)) ** 0.5
    return (mean + std * noise if noise is not None and std > 0 else mean), x0


def dpmpp2m_step(x, eps, ab_t, ab_prev, previous=None):
    """DPM-Solver++(2M) (Lu et al. 2022) in data prediction, first order on the first and last step.
    previous: the last step's (x̂0, λ) or None; returns (x_prev, x̂0, this step's (x̂0, λ))."""
    x0 = predict_x0(x, eps, ab_t)
    lam = 0.5 * np.log(ab_t / (1 - ab_t))
    if ab_prev >= 1:
        return x0, x0, None
    lam_prev = 0.5 * np.log(ab_prev / (1 - ab_prev))
    h = lam_prev - lam
    d = x0
    if previous is not None:
        r = (lam - previous[1]) / h
        d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous[0]
    x_prev = ((1 - ab_prev) / (1 - ab_t)) ** 0.5 * x - ab_prev**0.5 * float(np.expm1(-h)) * d
    return x_prev, x0, (x0, lam)


def euler_maruyama_step(x, eps, schedule, t, t_prev, noise=None):
    """One Euler–Maruyama step of the reverse VP-SDE from t to t_prev (the official eval's sampler):
    x ← x + (f − g²·score)·Δs + g·√|Δs|·z, f = −½β(s)x, g² = β(s), score = −ε/√(1−ᾱ); no noise on
    the step to the clean image. Needs a continuous schedule (β at any time). Returns (x_prev, x̂0)."""
    if not isinstance(schedule, VPContinuous):
        raise ValueError("euler-maruyama needs a continuous (vp-continuous) noise schedule")
    ab = schedule.alpha_bar(t)
    ds = (max(t_prev, 0.0) - t) / schedule.time_scale  # negative: time runs down
    beta = schedule.beta(t)
    score = -eps / (1 - ab) ** 0.5
    x_prev = x + (-0.5 * beta * x - beta * score) * ds
    if t_prev > 0 and noise is not None:
        x_prev = x_prev + beta**0.5 * (-ds) ** 0.5 * noise
    return x_prev, predict_x0(x, eps, ab)


SAMPLERS = ("ddim", "dpmpp2m", "ddpm", "euler-maruyama")  # the runtime's SAMPLERS
# exit rules (the manifest's exit.rule): the first confident block at or after the minimum depth
# (AdaDiff's, as this project trains), or the official code's
EXIT_RULES = ("first", "official")


def confident_blocks(unc, threshold, rule="first"):
    """Which blocks are confident: mean uncertainty ≤ θ (first), or < θ (official: its certainty > 1 − θ)."""
    return unc < threshold if rule == "official" else unc <= threshold


def first_confident(unc, threshold, min_depth=1, rule="first", num_in=None):
    """Per sample, the exit block (the last block if none is confident): unc [B, num_blocks] of
    per-block means, or a bool mask of confident blocks. rule "first": the first confident block at
    or after min_depth. rule "official" (the official AdaDiff code's UViT.forward): in the first
    num_in blocks (the in-blocks) the second confident one, any two, the count never resetting;
    the mid-block and out-blocks exit at the first confident one."""
    confident = unc.clone() if unc.dtype == torch.bool else confident_blocks(unc, threshold, rule)
    confident[:, : max(min_depth, 1) - 1] = False
    confident[:, -1] = True
    if rule == "first":
        return confident.float().argmax(dim=1)
    if num_in is None:
        raise ValueError("the official exit rule needs num_in, the number of in-blocks")
    seen = torch.cumsum(confident[:, :num_in].long(), dim=1)
    exits = confident.clone()
    exits[:, :num_in] = confident[:, :num_in] & (seen >= 2)  # the second confident in-block, not the first
    return exits.float().argmax(dim=1)


@torch.no_grad()
def exits_of(model, x, t, y):
    """Every exit's ε [B, num_blocks, …] and each block's mean uncertainty [B, num_blocks]."""
    eps_all, unc_all = model.forward_exits(x, t, y)
    unc = torch.stack([u.reshape(u.shape[0], -1).mean(1) for u in unc_all], dim=1)
    return torch.stack(eps_all, dim=1), unc


@torch.no_grad()
def adaptive_eps(model, x, t, y, threshold, min_depth=1):
    """Noise estimate where each sample exits at the first block with mean uncertainty ≤ threshold.

    Computes every block for the batch and then picks each sample's exit: identical results to a
    real early exit (samples are independent), simpler for batched evaluation.
    Returns eps [B,...], exit block per sample [B] (0-based), uncertainties [B, num_blocks].
    """
    eps_all, unc = exits_of(model, x, t, y)
    # θ 1 is how sample() fixes a depth (static baselines, the shallow pass): exactly min_depth
    # blocks, whatever the model's exit rule
    rule = "first" if threshold >= 1.0 else model.exit_rule
    exit_block = first_confident(unc, threshold, min_depth, rule, model.num_in)
    return eps_all[torch.arange(x.shape[0]), exit_block], exit_block, unc


def switch_depths(timesteps, switch_t, shallow_depth, num_blocks):
    """A DuoDiff-style switch schedule (the runtime's switchDepths): shallow_depth blocks at the steps
    with t > switch_t, every block below; one depth per step, for sample(depths=)."""
    return [shallow_depth if t > switch_t else num_blocks for t in timesteps]


BATCHINGS = ("separate", "weighted", "shallow", "all")


def unconditional_threshold(threshold, guidance):
    """'weighted' batching's θ for the unconditional pass (the runtime's unconditionalPolicy): the
    guided noise is g·ε_c + (1 − g)·ε_u, so the same error budget there is θ·g/|1 − g|."""
    return threshold if guidance == 1.0 else threshold * guidance / abs(1.0 - guidance)


@torch.no_grad()
def sample(model, schedule, y, noise, steps=20, guidance=1.0, threshold=0.0, eta=0.0, step_noise=None, min_depth=1,
           batching="separate", uncond_every=1, guidance_max_t=None, sampler="ddim", depths=None,
           denoise=adaptive_eps):
    """Sampling with classifier-free guidance and AdaDiff exits; returns images and a trace.

    denoise(model, x, t, y, threshold, min_depth) → (eps, exit block, uncertainties): one pass's
    exit rule (default: the step-level exit, adaptive_eps; token_exit.py passes its own).

    sampler: one of SAMPLERS, stepped as the runtime's are (DDIM by default; ddpm and euler-maruyama
    need step_noise; euler-maruyama a continuous schedule).
    depths: a static baseline (the runtime's modes 'static' and 'schedule'): the passes at step k run
    depths[k] blocks, whatever the uncertainties say — but for 'shallow''s unconditional pass, which
    stops at min_depth in every mode; threshold is then unused.

    threshold 0 lets no block exit (with separate batching, every step guided and no reuse it is full
    depth, the reference every saving is counted against). min_depth: no exit before this many
    blocks (the runtime's minDepth). The exit rule is the model's (model.exit_rule).
    batching (the runtime's): "separate" — the conditional and unconditional passes exit on their
    own; "weighted" — on their own, the unconditional one at unconditional_threshold(θ, g);
    "shallow" — the conditional pass exits at θ, the unconditional one always at min_depth; "all" —
    they run as one batch and exit together, at the first block where both are confident (one pass
    per step, and both guidance terms come from the same depth).
    uncond_every N (the runtime's unconditionalEvery): the unconditional pass runs on every N-th
    guided step only (from the first), and the guided steps between reuse its last estimate; it
    weighs |1 − g| against the conditional pass's g, and changes slowly from step to step.
    guidance_max_t (the runtime's guidanceMaxT): guidance, and with it the unconditional pass, only
    on steps with t ≤ this; the noisier steps run the conditional pass alone. None: every step.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if batching not in BATCHINGS:
        raise ValueError(f"batching must be one of {', '.join(BATCHINGS)}, got {batching!r}")
    if int(uncond_every) != uncond_every or uncond_every < 1:
        raise ValueError(f"uncond_every must be an integer ≥ 1, got {uncond_every!r}")
    x = noise
    ts = schedule.timesteps(steps)
    null = torch.full_like(y, model.num_classes)
    rows = torch.arange(x.shape[0])
    trace = []
    guided = 0  # guided steps so far: the unconditional pass runs on every uncond_every-th of them
    solver_state = None  # DPM-Solver++'s previous x̂0 and λ
    for k, t in enumerate(ts):
        t_prev = ts[k + 1] if k + 1 < len(ts) else -1
        ab_t, ab_prev = schedule.alpha_bar(t), schedule.alpha_bar(t_prev)
        tt = torch.full((x.shape[0],), float(t))
        # θ 1 exits at the first block allowed (a mean uncertainty is a sigmoid's, never above 1):
        # a static baseline's depth is that floor
        theta_c, min_c = (1.0, int(depths[k])) if depths is not None else (threshold, min_depth)
        guide = guidance != 1.0 and (guidance_max_t is None or t <= guidance_max_t)
        reuse = guide and guided % uncond_every != 0
        guided += guide
        if not guide or reuse:
            eps_c, exit_c, unc_c = denoise(model, x, tt, y, theta_c, min_c)
        elif batching == "all" and depths is None:
            eps_c_all, unc_c = exits_of(model, x, tt, y)
            eps_u_all, unc_u = exits_of(model, x, tt, null)
            rule = model.exit_rule
            both = confident_blocks(unc_c, threshold, rule) & confident_blocks(unc_u, threshold, rule)
            exit_c = exit_u = first_confident(both, threshold, min_depth, model.exit_rule, model.num_in)
            eps_c, eps_u = eps_c_all[rows, exit_c], eps_u_all[rows, exit_u]
        else:
            eps_c, exit_c, unc_c = denoise(model, x, tt, y, theta_c, min_c)
            # the runtime's unconditionalPolicy: 'shallow' stops it at min_depth in every mode; a
            # static baseline runs it as deep as the conditional pass; 'weighted' scales θ
            if batching == "shallow":
                theta_u, min_u = 1.0, min_depth
            elif depths is not None:
                theta_u, min_u = theta_c, min_c
            elif batching == "weighted":
                theta_u, min_u = unconditional_threshold(threshold, guidance), min_depth
            else:
                theta_u, min_u = threshold, min_depth
            eps_u, exit_u, unc_u = denoise(model, x, tt, null, theta_u, min_u)
        record = {"t": t, "exit_cond": exit_c.tolist(), "unc_cond": unc_c.tolist()}
        if guide:
            eps = eps_u + guidance * (eps_c - eps_u)  # on a reused step, eps_u is the last one computed
            if reuse:
                record["uncond_reused"] = True
            else:
                record.update(exit_uncond=exit_u.tolist(), unc_uncond=unc_u.tolist())
        else:
            eps = eps_c
            if guidance != 1.0:
                record["unguided"] = True
        z = None if step_noise is None else step_noise[k]
        if sampler == "ddim":
            x, _ = ddim_step(x, eps, ab_t, ab_prev, eta, z)
        elif sampler == "ddpm":
            x, _ = ddpm_step(x, eps, ab_t, ab_prev, z)
        elif sampler == "euler-maruyama":
            x, _ = euler_maruyama_step(x, eps, schedule, t, t_prev, z)
        else:
            x, _, solver_state = dpmpp2m_step(x, eps, ab_t, ab_prev, solver_state)
        trace.append(record)
    return x.clamp(-1, 1), trace


def dpm_solver_fast_orders(nfe):
    """DPM-Solver-fast's plan (Lu et al. 2022, as the official AdaDiff training loop runs it): K steps
    of third order, the last one or two of lower order, `nfe` network evaluations in all."""
    k = nfe // 3 + 1
    if nfe % 3 == 0:
        return [3] * (k - 2) + [2, 1]
    return [3] * (k - 1) + [nfe % 3]


@torch.no_grad()
def sample_dpm_solver_fast(model, schedule, noise, nfe=50, threshold=0.0, min_depth=1, t_eps=1e-4,
                           denoise=adaptive_eps):
    """DPM-Solver-fast (singlestep, noise prediction) on the continuous VP-SDE from s = 1 to `t_eps`,
    steps uniform in log-SNR: the sampler the official AdaDiff training loop measures FID with (50
    evaluations, t_eps 1e-4, there at full depth). For comparison with the runtime's samplers, with
    this project's exits at every evaluation. Unconditional models. Returns images and a trace."""
    if not isinstance(schedule, VPContinuous):
        raise ValueError("DPM-Solver-fast is written for the continuous VP-SDE (vp-continuous)")
    b0, b1, scale = schedule.beta_min, schedule.beta_max, schedule.time_scale

    def log_alpha(s):
        return -0.25 * s**2 * (b1 - b0) - 0.5 * s * b0

    def lam(s):  # log(α/σ)
        la = log_alpha(s)
        return la - 0.5 * math.log(1 - math.exp(2 * la))

    def time_of(lmb):  # the inverse of lam for the linear schedule
        tmp = 2 * (b1 - b0) * np.logaddexp(-2 * lmb, 0.0)
        return float(tmp / (math.sqrt(b0**2 + tmp) + b0) / (b1 - b0))

    def alpha_sigma(s):
        a = math.exp(log_alpha(s))
        return a, math.sqrt(1 - a * a)

    x = noise
    y = torch.zeros(x.shape[0], dtype=torch.int64)
    trace = []

    def eps_at(xs, s):
        tt = torch.full((xs.shape[0],), scale * s)
        e, exit_block, unc = denoise(model, xs, tt, y, threshold, min_depth)
        trace.append({"t": scale * s, "exit_cond": exit_block.tolist(), "unc_cond": unc.tolist()})
        return e

    orders = dpm_solver_fast_orders(nfe)
    lambdas = np.linspace(lam(1.0), lam(t_eps), len(orders) + 1)
    for k, order in enumerate(orders):
        s, t = time_of(lambdas[k]), time_of(lambdas[k + 1])
        h = lambdas[k + 1] - lambdas[k]
        (a_s, _), (a_t, sig_t) = alpha_sigma(s), alpha_sigma(t)
        e_s = eps_at(x, s)
        if order == 1:
            x = (a_t / a_s) * x - sig_t * math.expm1(h) * e_s
            continue
        r1 = 0.5 if order == 2 else 1 / 3
        s1 = time_of(lambdas[k] + r1 * h)
        a1, sig1 = alpha_sigma(s1)
        x1 = (a1 / a_s) * x - sig1 * math.expm1(r1 * h) * e_s
        e_1 = eps_at(x1, s1)
        if order == 2:
            x = (a_t / a_s) * x - sig_t * math.expm1(h) * e_s - sig_t / (2 * r1) * math.expm1(h) * (e_1 - e_s)
            continue
        r2 = 2 / 3
        s2 = time_of(lambdas[k] + r2 * h)
        a2, sig2 = alpha_sigma(s2)
        x2 = ((a2 / a_s) * x - sig2 * math.expm1(r2 * h) * e_s
              - (r2 / r1) * sig2 * (math.expm1(r2 * h) / (r2 * h) - 1) * (e_1 - e_s))
        e_2 = eps_at(x2, s2)
        x = (a_t / a_s) * x - sig_t * math.expm1(h) * e_s - (1 / r2) * sig_t * (math.expm1(h) / h - 1) * (e_2 - e_s)
    return x.clamp(-1, 1), trace
