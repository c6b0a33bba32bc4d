"""EdgeFace embedders: the EdgeNeXt backbone with a 512-d head, in plain torch.

EdgeFace (George et al., 2024) is timm's EdgeNeXt with `reset_classifier(512)`;
its "gamma" variants replace every Linear layer by a low-rank pair
(`linear1`: in -> rank without bias, `linear2`: rank -> out), rank =
max(2, int(min(in, out) * ratio)). Parameter names here equal timm's, so
EdgeFace checkpoints load with strict=True once a leading "model." is removed.

Everything the architecture needs can be read off a state dict's keys and
shapes (`infer_edgeface_args`), so files are never identified by their name.
Input: 112x112 RGB crops aligned to the ArcFace template, scaled to [-1, 1].
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from core.vision.align import ARCFACE_TEMPLATE
from core.vision.models.base import FaceEmbeddingModel, InputSpec

ARCH = "edgeface"
INPUT_SPEC = InputSpec(size=112, mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5), template=ARCFACE_TEMPLATE)

KERNEL_SIZES = (3, 5, 7, 9)
D2_SCALES = (2, 2, 3, 4)
GLOBAL_BLOCKS = (0, 1, 1, 1)
POS_EMB = (False, True, False, False)
EPS = 1e-6
# Cosine similarity for "same person" in a new gallery: accepts 1 in 1,000 impostor pairs of the
# identity-disjoint training photos (bench/calibrate_defaults.py; docs/BENCHMARKS.md): 0.314 for
# EdgeFace-XXS, 0.280 for XS; the stricter value serves the family until `rollcall calibrate`.
DEFAULT_THRESHOLD = 0.314

# Published EdgeFace variants (EdgeNeXt sizes from timm; rank ratio for the low-rank ones).
VARIANTS: dict[str, dict] = {
    "xxs": dict(dims=(24, 48, 88, 168), depths=(2, 2, 6, 2), heads=(4, 4, 4, 4)),
    "xs": dict(dims=(32, 64, 100, 192), depths=(3, 3, 9, 3), heads=(4, 4, 4, 4)),
    "s": dict(dims=(48, 96, 160, 304), depths=(3, 3, 9, 3), heads=(8, 8, 8, 8)),
    "base": dict(dims=(80, 160, 288, 584), depths=(3, 3, 9, 3), heads=(8, 8, 8, 8)),
}
VARIANTS["xs_gamma_06"] = dict(VARIANTS["xs"], rank_ratio=0.6)
VARIANTS["s_gamma_05"] = dict(VARIANTS["s"], rank_ratio=0.5)


# Documented ranges of EdgeFace's arguments (docs/MODELS.md#loading-a-model-file), checked before anything is
# built: EdgeFace-base, the largest published size, has dims up to 584, depth 9 and 18 M parameters.
INT_RANGES = {"dims": (1, 1024), "depths": (1, 16), "heads": (1, 64), "global_blocks": (0, 16),
              "embedding_dim": (1, 4096), "expand_ratio": (1, 8)}
MAX_PARAMETERS = 100_000_000  # estimated from the arguments: 400 MB of float32 weights


def check_edgeface_args(args: object) -> dict:
    """`args` as EdgeFace keyword arguments; ValueError naming the first unknown, mistyped or out-of-range one."""
    if not isinstance(args, dict):
        raise ValueError(f"EdgeFace arguments must be a mapping, got {type(args).__name__}")
    known = ("rank_ratio", "pos_emb", *INT_RANGES)
    unknown = sorted(str(k) for k in args if k not in known)
    if unknown:
        raise ValueError(f"unknown EdgeFace argument(s) {', '.join(unknown)}; known: {', '.join(known)}")
    out = dict(args)
    for key, (low, high) in INT_RANGES.items():
        if key not in args:
            continue
        value = args[key]
        per_stage = key not in ("embedding_dim", "expand_ratio")
        items = value if per_stage and isinstance(value, (list, tuple)) else [value]
        if per_stage and not (isinstance(value, (list, tuple)) and len(value) == 4):
            raise ValueError(f"EdgeFace argument {key} must list 4 whole numbers (one per stage), got {value!r}")
        if not all(type(v) is int and low <= v <= high for v in items):
            raise ValueError(f"EdgeFace argument {key} must be whole numbers between {low} and {high}, got {value!r}")
        out[key] = tuple(items) if per_stage else value
    if "pos_emb" in args:
        value = args["pos_emb"]
        if not (isinstance(value, (list, tuple)) and len(value) == 4 and all(type(v) is bool for v in value)):
            raise ValueError(f"EdgeFace argument pos_emb must list 4 true/false values, got {value!r}")
        out["pos_emb"] = tuple(value)
    ratio = args.get("rank_ratio")
    if ratio is not None and not (type(ratio) is float and 0.0 < ratio <= 1.0):
        raise ValueError(f"EdgeFace argument rank_ratio must be none or a number in (0, 1], got {ratio!r}")
    dims = out.get("dims", VARIANTS["xs"]["dims"])
    depths = out.get("depths", VARIANTS["xs"]["depths"])
    expand = out.get("expand_ratio", 4)
    blocks = out.get("global_blocks", GLOBAL_BLOCKS)
    if any(g > d for g, d in zip(blocks, depths)):
        raise ValueError(f"EdgeFace argument global_blocks {blocks!r} exceeds the depths {depths!r}")
    estimate = sum(d * c * c * (2 * expand + 4) for d, c in zip(depths, dims)) + dims[-1] * out.get("embedding_dim", 512)
    if estimate > MAX_PARAMETERS:
        raise ValueError(f"EdgeFace arguments describe about {estimate / 1e6:.0f} M parameters, more than the "
                         f"{MAX_PARAMETERS / 1e6:.0f} M Rollcall builds")
    return out


class LowRankLinear(nn.Module):
    """in -> rank -> out, the factorised Linear of EdgeFace's gamma variants."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        self.linear1 = nn.Linear(in_features, rank, bias=False)
        self.linear2 = nn.Linear(rank, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.linear1(x))


def _linear(in_f: int, out_f: int, rank_ratio: float | None, bias: bool = True) -> nn.Module:
    if rank_ratio is None:
        return nn.Linear(in_f, out_f, bias=bias)
    rank = max(2, int(min(in_f, out_f) * rank_ratio))
    return LowRankLinear(in_f, out_f, rank, bias=bias)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, rank_ratio: float | None) -> None:
        super().__init__()
        self.fc1 = _linear(dim, hidden, rank_ratio)
        self.fc2 = _linear(hidden, dim, rank_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ConvBlock(nn.Module):
    """Depth-wise conv, then an inverted-bottleneck MLP on channels-last features, scaled by gamma."""

    def __init__(self, dim: int, kernel_size: int, expand_ratio: int, rank_ratio: float | None) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.mlp = Mlp(dim, expand_ratio * dim, rank_ratio)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_dw(x).permute(0, 2, 3, 1)
        y = self.gamma * self.mlp(self.norm(y))
        return x + y.permute(0, 3, 1, 2)


class PositionalEncodingFourier(nn.Module):
    def __init__(self, dim: int, hidden_dim: int = 32, temperature: float = 10000.0) -> None:
        super().__init__()
        self.token_projection = nn.Conv2d(hidden_dim * 2, dim, kernel_size=1)
        self.hidden_dim = hidden_dim
        self.temperature = temperature

    def forward(self, batch: int, height: int, width: int) -> torch.Tensor:
        device, dtype = self.token_projection.weight.device, self.token_projection.weight.dtype
        ones = torch.ones(batch, height, width, device=device, dtype=torch.float32)
        y_embed = ones.cumsum(1)
        x_embed = ones.cumsum(2)
        y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * (2 * math.pi)
        x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * (2 * math.pi)
        dim_t = torch.arange(self.hidden_dim, device=device, dtype=torch.float32)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.hidden_dim)
        pos_x = x_embed[..., None] / dim_t
        pos_y = y_embed[..., None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2).to(dtype)
        return self.token_projection(pos)


class CrossCovarianceAttn(nn.Module):
    """Attention across channels (C x C map per head) instead of across positions."""

    def __init__(self, dim: int, num_heads: int, rank_ratio: float | None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = _linear(dim, dim * 3, rank_ratio)
        self.proj = _linear(dim, dim, rank_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 4, 1)
        q, k, v = qkv.unbind(0)
        attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * self.temperature
        x = attn.softmax(dim=-1) @ v
        return self.proj(x.permute(0, 3, 1, 2).reshape(b, n, c))


class SplitTransposeBlock(nn.Module):
    """EdgeNeXt's SDTA block: multi-scale depth-wise convs on channel groups, then channel attention."""

    def __init__(
        self, dim: int, num_scales: int, num_heads: int, expand_ratio: int, use_pos_emb: bool,
        rank_ratio: float | None,
    ) -> None:
        super().__init__()
        width = math.ceil(dim / num_scales)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, padding=1, groups=width) for _ in range(max(1, num_scales - 1))
        )
        self.pos_embd = PositionalEncodingFourier(dim) if use_pos_emb else None
        self.norm_xca = nn.LayerNorm(dim, eps=EPS)
        self.gamma_xca = nn.Parameter(torch.full((dim,), 1e-6))
        self.xca = CrossCovarianceAttn(dim, num_heads, rank_ratio)
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.mlp = Mlp(dim, expand_ratio * dim, rank_ratio)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        chunks = x.chunk(len(self.convs) + 1, dim=1)
        outs = []
        sp = chunks[0]
        for i, conv in enumerate(self.convs):
            if i > 0:
                sp = sp + chunks[i]
            sp = conv(sp)
            outs.append(sp)
        outs.append(chunks[-1])
        x = torch.cat(outs, 1)

        b, c, h, w = x.shape
        x = x.reshape(b, c, h * w).permute(0, 2, 1)
        if self.pos_embd is not None:
            x = x + self.pos_embd(b, h, w).reshape(b, -1, x.shape[1]).permute(0, 2, 1)
        x = x + self.gamma_xca * self.xca(self.norm_xca(x))
        x = x.reshape(b, h, w, c)
        x = self.gamma * self.mlp(self.norm(x))
        return shortcut + x.permute(0, 3, 1, 2)


class Stage(nn.Module):
    def __init__(
        self, in_dim: int, dim: int, depth: int, index: int, num_heads: int, expand_ratio: int,
        rank_ratio: float | None, global_blocks: int, use_pos_emb: bool,
    ) -> None:
        super().__init__()
        self.downsample = (
            nn.Identity() if index == 0
            else nn.Sequential(LayerNorm2d(in_dim, eps=EPS), nn.Conv2d(in_dim, dim, kernel_size=2, stride=2))
        )
        blocks: list[nn.Module] = []
        for i in range(depth):
            if i < depth - global_blocks:
                blocks.append(ConvBlock(dim, KERNEL_SIZES[index], expand_ratio, rank_ratio))
            else:
                blocks.append(SplitTransposeBlock(dim, D2_SCALES[index], num_heads, expand_ratio, use_pos_emb, rank_ratio))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class Head(nn.Module):
    def __init__(self, dim: int, out_dim: int, rank_ratio: float | None) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim, eps=EPS)
        self.fc = _linear(dim, out_dim, rank_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean(dim=(2, 3), keepdim=True)
        return self.fc(self.norm(x).flatten(1))


class EdgeFace(FaceEmbeddingModel):
    """EdgeNeXt backbone + 512-d embedding head."""

    arch = ARCH
    input_spec = INPUT_SPEC
    default_threshold = DEFAULT_THRESHOLD

    def __init__(
        self,
        dims: tuple[int, ...] = VARIANTS["xs"]["dims"],
        depths: tuple[int, ...] = VARIANTS["xs"]["depths"],
        heads: tuple[int, ...] = VARIANTS["xs"]["heads"],
        rank_ratio: float | None = None,
        embedding_dim: int = 512,
        expand_ratio: int = 4,
        global_blocks: tuple[int, ...] = GLOBAL_BLOCKS,
        pos_emb: tuple[bool, ...] = POS_EMB,
    ) -> None:
        super().__init__()
        if not (len(dims) == len(depths) == len(heads) == len(global_blocks) == len(pos_emb) == 4):
            raise ValueError("EdgeFace needs four stages: dims, depths, heads, global_blocks and pos_emb of length 4")
        self._args = dict(
            dims=tuple(dims), depths=tuple(depths), heads=tuple(heads), rank_ratio=rank_ratio,
            embedding_dim=embedding_dim, expand_ratio=expand_ratio,
            global_blocks=tuple(global_blocks), pos_emb=tuple(bool(p) for p in pos_emb),
        )
        self.embedding_dim = embedding_dim
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0], eps=EPS))
        self.stages = nn.Sequential(*(
            Stage(dims[max(i - 1, 0)], dims[i], depths[i], i, heads[i], expand_ratio, rank_ratio,
                  global_blocks[i], pos_emb[i])
            for i in range(4)
        ))
        self.head = Head(dims[-1], embedding_dim, rank_ratio)

    @classmethod
    def variant(cls, name: str) -> EdgeFace:
        if name not in VARIANTS:
            raise ValueError(f"unknown EdgeFace variant '{name}'; known: {', '.join(VARIANTS)}")
        return cls(**VARIANTS[name])

    @staticmethod
    def check_args(args: object) -> dict:
        return check_edgeface_args(args)

    def arch_args(self) -> dict:
        return dict(self._args)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return self.head(x), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(x)


_BLOCK_KEY = re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.")


def is_edgeface_state_dict(keys: set[str]) -> bool:
    return "stem.0.weight" in keys and any(k.startswith("stages.3.blocks.") for k in keys) and any(
        k.startswith("head.fc.") for k in keys
    )


def infer_edgeface_args(shapes: dict[str, tuple[int, ...]]) -> dict:
    """EdgeFace constructor arguments read off a state dict's keys and shapes.

    `shapes` maps parameter names (without any "model." prefix) to shapes.
    Raises ValueError when the keys do not describe an EdgeFace model.
    """
    if not is_edgeface_state_dict(set(shapes)):
        raise ValueError("keys do not look like an EdgeFace/EdgeNeXt model (no stem/stages/head.fc)")
    dims, depths, heads, global_blocks, pos_emb = [], [], [], [], []
    expand_ratio = None
    for s in range(4):
        block_ids = {int(m.group(2)) for k in shapes if (m := _BLOCK_KEY.match(k)) and int(m.group(1)) == s}
        if not block_ids or sorted(block_ids) != list(range(len(block_ids))):
            raise ValueError(f"stage {s} has no blocks or a gap in its block numbering")
        depths.append(len(block_ids))
        prefix = f"stages.{s}.blocks"
        sdta = [b for b in block_ids if f"{prefix}.{b}.xca.temperature" in shapes]
        global_blocks.append(len(sdta))
        if sdta and sorted(sdta) != list(range(len(block_ids) - len(sdta), len(block_ids))):
            raise ValueError(f"stage {s}: attention blocks must come last")
        heads.append(shapes[f"{prefix}.{sdta[0]}.xca.temperature"][0] if sdta else 4)
        pos_emb.append(any(f"{prefix}.{b}.pos_embd.token_projection.weight" in shapes for b in sdta))
        dims.append(shapes[f"{prefix}.0.norm.weight"][0])
        hidden = _out_features(shapes, f"{prefix}.0.mlp.fc1")
        ratio = hidden // dims[-1]
        if expand_ratio is None:
            expand_ratio = ratio
        elif ratio != expand_ratio:
            raise ValueError("MLP expansion ratio differs between stages")
    for s in range(4):  # stages without attention blocks: the head count is unused, keep it uniform
        if global_blocks[s] == 0:
            heads[s] = next((h for h, g in zip(heads, global_blocks) if g), 4)
    return dict(
        dims=tuple(dims), depths=tuple(depths), heads=tuple(heads),
        rank_ratio=_infer_rank_ratio(shapes), embedding_dim=_out_features(shapes, "head.fc"),
        expand_ratio=expand_ratio, global_blocks=tuple(global_blocks), pos_emb=tuple(pos_emb),
    )


def _out_features(shapes: dict[str, tuple[int, ...]], prefix: str) -> int:
    if f"{prefix}.weight" in shapes:
        return shapes[f"{prefix}.weight"][0]
    if f"{prefix}.linear2.weight" in shapes:
        return shapes[f"{prefix}.linear2.weight"][0]
    raise ValueError(f"missing weights for {prefix}")


def _infer_rank_ratio(shapes: dict[str, tuple[int, ...]]) -> float | None:
    """The ratio r with max(2, int(min(in, out) * r)) == rank for every low-rank layer, or None."""
    pairs = []
    for key, shape in shapes.items():
        if key.endswith(".linear1.weight"):
            rank, in_f = shape
            out_f = shapes[key.replace(".linear1.", ".linear2.")][0]
            pairs.append((rank, min(in_f, out_f)))
    if not pairs:
        return None
    # The true ratio r* satisfies rank <= m * r* < rank + 1 for every layer (rank > 2);
    # the largest lower bound rank / m then satisfies every layer too.
    candidates = [rank / m for rank, m in pairs if rank > 2] or [rank / m for rank, m in pairs]
    ratio = max(candidates)
    for digits in (1, 2, 3, 4, 6):  # prefer the short decimal the model was made with
        rounded = round(ratio, digits)
        if all(max(2, int(m * rounded)) == rank for rank, m in pairs):
            return rounded
    if all(max(2, int(m * (ratio + 1e-9))) == rank for rank, m in pairs):
        return ratio + 1e-9
    raise ValueError("low-rank layers do not follow one rank ratio")
