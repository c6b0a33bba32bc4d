"""DSR: a compact face super-resolution network, 28x28 aligned crops -> 112x112.

Restores small faces before they are embedded. Crops are RGB in [-1, 1], aligned to the ArcFace
template (`core.vision.align.ARCFACE_TEMPLATE`; scaled to 28 px for the input). EDSR-like and sized for
laptop CPUs at batch 1; it predicts only what bicubic upscaling misses, so an untrained DSR is bicubic.

Design: docs/MODELS.md#dsr-face-super-resolution
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.vision.align import ARCFACE_TEMPLATE
from core.vision.models.base import InputSpec
from core.vision.models.superres import SR_INPUT_SIZE, SR_OUTPUT_SIZE, SuperResolutionModel

ARCH = "dsr"
SCALE = SR_OUTPUT_SIZE // SR_INPUT_SIZE  # 4
_NORM = dict(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5))
INPUT_SPEC = InputSpec(size=SR_INPUT_SIZE, template=ARCFACE_TEMPLATE.scaled(SR_INPUT_SIZE), **_NORM)
OUTPUT_SPEC = InputSpec(size=SR_OUTPUT_SIZE, template=ARCFACE_TEMPLATE, **_NORM)


# Documented ranges of DSRNet's arguments (docs/MODELS.md#dsr-face-super-resolution): checked before
# anything is built, so a checkpoint or config cannot ask for a network that never finishes building.
ARG_RANGES = {"channels": (1, 256), "blocks": (0, 64), "up_channels": (1, 128)}


def check_dsr_args(args: object) -> dict[str, int]:
    """`args` as DSRNet keyword arguments; ValueError naming the first one that is unknown, not an integer or
    out of its range."""
    if not isinstance(args, dict):
        raise ValueError(f"DSR arguments must be a mapping, got {type(args).__name__}")
    unknown = sorted(str(k) for k in args if k not in ARG_RANGES)
    if unknown:
        raise ValueError(f"unknown argument(s) {', '.join(unknown)}; DSR knows {', '.join(ARG_RANGES)}")
    for key, value in args.items():
        low, high = ARG_RANGES[key]
        if type(value) is not int:
            raise ValueError(f"DSR argument {key} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"DSR argument {key} must be between {low} and {high}, got {value}")
    return dict(args)


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


class DSRNet(SuperResolutionModel):
    """Residual CNN + pixel-shuffle x4 upsampling for aligned face crops."""

    arch = ARCH
    input_spec = INPUT_SPEC
    output_spec = OUTPUT_SPEC
    scale = SCALE

    def __init__(self, channels: int = 32, blocks: int = 8, up_channels: int = 16) -> None:
        super().__init__()
        check_dsr_args({"channels": channels, "blocks": blocks, "up_channels": up_channels})
        self.channels, self.blocks, self.up_channels = int(channels), int(blocks), int(up_channels)
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*(ResBlock(channels) for _ in range(blocks)))
        self.body_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.up1 = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.up2 = nn.Conv2d(channels, up_channels * 4, 3, padding=1)
        self.tail = nn.Conv2d(up_channels, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    @staticmethod
    def check_args(args: object) -> dict:
        return check_dsr_args(args)

    def arch_args(self) -> dict:
        return {"channels": self.channels, "blocks": self.blocks, "up_channels": self.up_channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 28, 28) normalised RGB -> (N, 3, 112, 112) in the same normalisation."""
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        feat = self.head(x)
        feat = feat + self.body_conv(self.body(feat))
        feat = F.relu(F.pixel_shuffle(self.up1(feat), 2), inplace=True)
        feat = F.relu(F.pixel_shuffle(self.up2(feat), 2), inplace=True)
        return base + self.tail(feat)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
