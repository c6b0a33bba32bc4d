"""Face super-resolution: what an SR model family declares, and the wrappers that run one.

An SR family (one file each in this package, e.g. `dsr.py`) is an `nn.Module`
whose `forward` takes a normalised float batch (N, 3, s, s, RGB) of small
aligned faces and returns (N, 3, S, S) in the same normalisation, S = s * scale.
Input and output are aligned to the same 5-point template at their own sizes
(`input_spec`, `output_spec`), so the output's landmarks are known without
running a detector again.

`SuperResolver` runs such a model on BGR uint8 crops; `BicubicResolver` has the
same interface and is the fallback when no SR model is active.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch import nn

from core.vision.align import ARCFACE_TEMPLATE, AlignmentTemplate
from core.errors import InvalidImageError
from core.vision.models.base import InputSpec, weights_identity

SR_OUTPUT_SIZE = 112
SR_INPUT_SIZE = 28  # 112 / 4: faces smaller than this are warped up to it by align_face


class SuperResolutionModel(nn.Module):
    """Base class of the SR families: architecture name, args and both ends' input specs."""

    arch: str = ""
    input_spec: InputSpec
    output_spec: InputSpec

    def arch_args(self) -> dict:
        """Keyword arguments that rebuild this module with `registry.build_model(arch, args)`."""
        raise NotImplementedError

    @staticmethod
    def check_args(args: object) -> dict:
        """`args` checked as keyword arguments (types, documented ranges); ValueError names a bad one."""
        raise NotImplementedError


def _check_crops(crops: np.ndarray, size: int, who: str) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim == 3:
        crops = crops[None]
    if crops.ndim != 4 or crops.shape[1:] != (size, size, 3) or crops.dtype != np.uint8:
        raise InvalidImageError(
            f"{who} needs aligned uint8 BGR crops of shape (N, {size}, {size}, 3), "
            f"got {crops.shape} {crops.dtype}"
        )
    return crops


class BicubicResolver:
    """Bicubic upscaling of aligned low-res crops: the no-model fallback, same interface as SuperResolver."""

    name = "bicubic"

    def __init__(
        self, input_size: int = SR_INPUT_SIZE, output_size: int = SR_OUTPUT_SIZE,
        template: AlignmentTemplate = ARCFACE_TEMPLATE,
    ) -> None:
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.template = template.scaled(self.output_size)  # output layout; input = same template scaled down

    @property
    def input_template(self) -> AlignmentTemplate:
        return self.template.scaled(self.input_size)

    def upscale(self, crops_bgr: np.ndarray) -> np.ndarray:
        """(N, s, s, 3) uint8 BGR -> (N, S, S, 3) uint8 BGR."""
        crops = _check_crops(crops_bgr, self.input_size, self.name)
        size = (self.output_size, self.output_size)
        out = np.empty((len(crops), *size, 3), np.uint8)
        for i, crop in enumerate(crops):
            out[i] = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
        return out


@dataclass
class SuperResolver:
    """An SR model ready to upscale aligned BGR uint8 crops (the DSR counterpart of `Embedder`)."""

    model: SuperResolutionModel = field(repr=False)
    name: str
    source: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        self.model = self.model.to(self.device).eval()
        self._mean, self._std = self.model.input_spec.channel_stats(self.device)
        self._out_mean, self._out_std = self.model.output_spec.channel_stats(self.device)

    @property
    def input_size(self) -> int:
        return self.model.input_spec.size

    @property
    def output_size(self) -> int:
        return self.model.output_spec.size

    @property
    def template(self) -> AlignmentTemplate:
        """Layout of the output crops."""
        return self.model.output_spec.template

    @property
    def input_template(self) -> AlignmentTemplate:
        return self.model.input_spec.template

    @functools.cached_property
    def identity(self) -> str:
        """sha256 of the weights file, else of the tensors."""
        return weights_identity(self.source, self.model.arch, self.model)

    @torch.inference_mode()
    def upscale(self, crops_bgr: np.ndarray) -> np.ndarray:
        """(N, s, s, 3) uint8 BGR -> (N, S, S, 3) uint8 BGR, in one batch."""
        crops = _check_crops(crops_bgr, self.input_size, self.name)
        if len(crops) == 0:
            return np.zeros((0, self.output_size, self.output_size, 3), np.uint8)
        x = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])).to(self.device)
        x = (x.permute(0, 3, 1, 2).float() - self._mean) / self._std
        y = self.model(x).float() * self._out_std + self._out_mean
        y = y.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        return np.ascontiguousarray(y.cpu().numpy()[..., ::-1])
