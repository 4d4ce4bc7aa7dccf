"""U-ViT (Bao et al.) with AdaDiff exits: the whole network, top to bottom, in one file.

Parameter names follow upstream U-ViT's `libs/uvit.py` (patch_embed.proj, time_embed, label_emb,
pos_embed, in_blocks.N.*, mid_block.*, out_blocks.N.skip_linear, norm, decoder_pred, final_layer) so
an upstream checkpoint loads. The exit heads come in two kinds: AdaDiff's timestep-aware UEM as the
paper describes it (`uems.N.*`, exit_head "uem"), and the official AdaDiff code's certainty head
(`lte_classifer.N.lte`, sic, exit_head "lte"), so that the authors' checkpoints load as they are.

Blocks are numbered 0..num_blocks-1 in execution order: in-blocks, the mid-block, out-blocks.
After every block i an exit is possible: the shared head turns its tokens into a noise estimate,
and UEM i estimates how uncertain that estimate is (Tang et al., AdaDiff, ECCV 2024).
"""

import math

import torch
import torch.nn as nn


def timestep_embedding(t, dim, max_period=10000):
    """Sinusoidal embedding of (float) timesteps t [B] → [B, dim], as upstream's time token."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def unpatchify(x, channels, grid, p):
    """[B, h·w, p·p·C] → [B, C, h·p, w·p] (upstream's einops rearrange, written out for ONNX)."""
    # the batch is left as −1 so that the graphs hold no Shape node: in eager mode a wrong token count
    # would fold into it unseen
    if not torch.jit.is_tracing() and tuple(x.shape[1:]) != (grid * grid, p * p * channels):
        raise ValueError(f"unpatchify takes tokens [B, {grid * grid}, {p * p * channels}], got {list(x.shape)}")
    x = x.reshape(-1, grid, grid, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(-1, channels, grid * p, grid * p)


class Attention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        # the batch as -1 and the rest as constants (a model's token count and width are fixed): read
        # from the tensor's shape, they put Shape→Gather→Concat chains in the exported graphs, which
        # every session then optimised at load (docs/page.md, "Graphs with constant shapes")
        L, C = int(x.shape[1]), int(x.shape[2])
        qkv = self.qkv(x).reshape(-1, L, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(-1, L, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block; an out-block first fuses its long skip."""

    def __init__(self, dim, num_heads, mlp_ratio, qkv_bias, skip=False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None

    def forward(self, x, skip=None):
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class UEM(nn.Module):
    """Timestep-aware uncertainty estimation: u = σ(W·[LN(h); emb(t)] + b) per pixel of each patch.

    One linear map per token (split into its token and timestep halves, which is the same map) keeps
    it tiny: measured, a per-token MLP here costs ~14 % of a step, a linear map almost nothing.
    """

    def __init__(self, dim, out_per_token):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_per_token)
        self.time_proj = nn.Linear(dim, out_per_token, bias=False)

    def forward(self, patch_tokens, temb):
        return torch.sigmoid(self.proj(self.norm(patch_tokens)) + self.time_proj(temb)[:, None, :])


class LTE(nn.Module):
    """The official AdaDiff code's exit head: a certainty σ(W·h + b) per pixel of each patch, on the raw
    patch tokens (no norm, no time input). Its name and layout are the official `LTE`'s."""

    def __init__(self, dim, out_per_token):
        super().__init__()
        self.lte = nn.Linear(dim, out_per_token)

    def forward(self, patch_tokens):
        return torch.sigmoid(self.lte(patch_tokens))


EXIT_HEADS = ("uem", "lte")
# the parameter-name prefix of each kind of exit head (what --uem-only trains)
EXIT_HEAD_PREFIX = {"uem": "uems.", "lte": "lte_classifer."}


class UViT(nn.Module):
    def __init__(
        self,
        img_size=28,
        patch_size=4,
        in_chans=1,
        embed_dim=128,
        depth=12,
        num_heads=4,
        mlp_ratio=4.0,
        qkv_bias=False,
        num_classes=10,
        conv=True,
        mlp_time_embed=False,
        exit_head="uem",
        exit_rule="first",
    ):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        if depth % 2:
            raise ValueError(f"depth {depth} must be even (depth//2 in-blocks, depth//2 out-blocks)")
        if exit_head not in EXIT_HEADS:
            raise ValueError(f"exit_head must be one of {EXIT_HEADS}, got {exit_head!r}")
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.embed_dim, self.num_classes = embed_dim, num_classes
        self.exit_head, self.exit_rule = exit_head, exit_rule
        self.grid = img_size // patch_size
        self.num_patches = self.grid**2
        self.extras = 2 if num_classes > 0 else 1
        self.patch_dim = patch_size**2 * in_chans

        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        # upstream's optional MLP on the time embedding (off in every official AdaDiff config)
        self.time_embed = (nn.Sequential(nn.Linear(embed_dim, 4 * embed_dim), nn.SiLU(),
                                         nn.Linear(4 * embed_dim, embed_dim)) if mlp_time_embed else nn.Identity())
        if num_classes > 0:
            self.label_emb = nn.Embedding(num_classes + 1, embed_dim)  # the last row is the null class
        self.pos_embed = nn.Parameter(torch.zeros(1, self.extras + self.num_patches, embed_dim))

        def block(skip=False):
            return Block(embed_dim, num_heads, mlp_ratio, qkv_bias, skip)

        self.in_blocks = nn.ModuleList([block() for _ in range(depth // 2)])
        self.mid_block = block()
        self.out_blocks = nn.ModuleList([block(skip=True) for _ in range(depth // 2)])

        self.norm = nn.LayerNorm(embed_dim)
        self.decoder_pred = nn.Linear(embed_dim, self.patch_dim)
        self.final_layer = nn.Conv2d(in_chans, in_chans, 3, padding=1) if conv else nn.Identity()

        if exit_head == "uem":
            self.uems = nn.ModuleList([UEM(embed_dim, self.patch_dim) for _ in range(self.num_blocks)])
        else:
            self.lte_classifer = nn.ModuleList([LTE(embed_dim, self.patch_dim) for _ in range(self.num_blocks)])

        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    # ---- structure -------------------------------------------------------------------------
    @property
    def num_in(self):
        return len(self.in_blocks)

    @property
    def num_blocks(self):
        return 2 * len(self.in_blocks) + 1

    @property
    def blocks(self):
        return [*self.in_blocks, self.mid_block, *self.out_blocks]

    def skip_source(self, i):
        """Which block's output feeds block i's long skip (None for in-blocks and the mid-block)."""
        if i <= self.num_in:
            return None
        return 2 * self.num_in - i

    # ---- segments: what the ONNX graphs contain ----------------------------------------------
    def embed(self, x, t, y=None):
        """Noisy image, timestep, class → tokens [label, time, patches] and the UEM's timestep embedding."""
        # as in unpatchify: another image size would fold into the batch, or be cropped by the patch conv
        if not torch.jit.is_tracing() and tuple(x.shape[1:]) != (self.in_chans, self.img_size, self.img_size):
            raise ValueError(
                f"embed takes images [B, {self.in_chans}, {self.img_size}, {self.img_size}], got {list(x.shape)}"
            )
        patches = self.patch_embed.proj(x).reshape(-1, self.embed_dim, self.num_patches).transpose(1, 2)
        temb = self.time_embed(timestep_embedding(t, self.embed_dim))
        tokens = [temb[:, None, :]]
        if self.num_classes > 0:
            tokens.insert(0, self.label_emb(y)[:, None, :])
        tokens = torch.cat(tokens + [patches], dim=1) + self.pos_embed
        return tokens, temb

    def run_block(self, i, h, skip=None):
        return self.blocks[i](h, skip)

    def uncertainty(self, i, h, temb):
        """Exit head i on block i's tokens → per-token uncertainty [B, patches, p·p·C] in (0, 1): the
        UEM's, or 1 − the official head's certainty, so that one θ (≤ its mean exits) reads both."""
        patches = h[:, self.extras :, :]
        if self.exit_head == "lte":
            return 1.0 - self.lte_classifer[i](patches)
        return self.uems[i](patches, temb)

    def uncertainty_map(self, i, h, temb):
        """Exit head i on block i's tokens → per-pixel uncertainty [B, C, H, W] in (0, 1)."""
        return unpatchify(self.uncertainty(i, h, temb), self.in_chans, self.grid, self.patch_size)

    def head(self, h):
        """The shared exit: LN → Linear → drop extra tokens → unpatchify → conv3x3 = predicted noise."""
        h = self.decoder_pred(self.norm(h))[:, self.extras :, :]
        return self.final_layer(unpatchify(h, self.in_chans, self.grid, self.patch_size))

    # ---- whole-model passes ------------------------------------------------------------------
    def forward(self, x, t, y=None):
        """Full depth: the plain U-ViT noise prediction."""
        h, _ = self.embed(x, t, y)
        outputs = []
        for i in range(self.num_blocks):
            src = self.skip_source(i)
            h = self.run_block(i, h, None if src is None else outputs[src])
            outputs.append(h)
        return self.head(h)

    def forward_exits(self, x, t, y=None, detach_uem_input=True):
        """Every exit's noise estimate and uncertainty map: lists of num_blocks [B, C, H, W] tensors.

        The UEM sees detached tokens in training, so its loss trains only the UEM (AdaDiff §3.2).
        """
        h, temb = self.embed(x, t, y)
        outputs, eps, unc = [], [], []
        for i in range(self.num_blocks):
            src = self.skip_source(i)
            h = self.run_block(i, h, None if src is None else outputs[src])
            outputs.append(h)
            eps.append(self.head(h))
            unc.append(self.uncertainty_map(i, h.detach() if detach_uem_input else h, temb))
        return eps, unc


def build(model_config):
    return UViT(**model_config)
