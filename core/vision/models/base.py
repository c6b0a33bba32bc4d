"""What every face embedder declares, and the wrapper that runs one on aligned crops.

A model family (one file each in this package) is an `nn.Module` whose
`forward` takes a normalised float batch (N, 3, S, S, RGB) and returns raw
embeddings (N, D). The family also says how to feed it: crop size, pixel
normalisation and the alignment template (`InputSpec`), and how to rebuild
it (`arch` name plus `arch_args`), so that checkpoints can describe themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.vision.align import AlignmentTemplate
from core.protected_files import ensure_not_database_file
from core.digest import file_sha256
from core.errors import InvalidImageError


@dataclass(frozen=True)
class InputSpec:
    """How crops must be prepared for a model.

    Pixels (RGB, 0..255) become (pixel - mean) / std per channel.
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    template: AlignmentTemplate

    def __post_init__(self) -> None:
        if self.template.size != self.size:
            object.__setattr__(self, "template", self.template.scaled(self.size))

    def channel_stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) as (1, 3, 1, 1) float tensors on `device`, for normalising NCHW batches."""
        as_tensor = lambda v: torch.tensor(v, dtype=torch.float32, device=device).view(1, 3, 1, 1)  # noqa: E731
        return as_tensor(self.mean), as_tensor(self.std)


class FaceEmbeddingModel(nn.Module):
    """Base class of the model families: declares architecture name, args and input spec."""

    arch: str = ""
    input_spec: InputSpec
    embedding_dim: int
    # Cosine similarity at which two faces count as the same person, for a new gallery
    # (each family sets it from bench/calibrate_defaults.py; `rollcall calibrate` refines it).
    default_threshold: float

    def arch_args(self) -> dict:
        """Keyword arguments that rebuild this module with `registry.build(arch, **args)`."""
        raise NotImplementedError

    @staticmethod
    def check_args(args: object) -> dict:
        """`args` checked as keyword arguments (types, documented ranges); ValueError names a bad one."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Embedding plus intermediate feature maps (for feature-matching losses)."""
        raise NotImplementedError


def weights_identity(source: str | Path, arch: str, model: torch.nn.Module) -> str:
    """sha256 of a model's weights file, or of its architecture name and tensors when it has no file.
    Identifies what a model computes: the gallery keys embeddings by it."""
    path = Path(source) if source else None
    if path is not None and path.is_file():
        ensure_not_database_file(path, "a model file")  # reading it would drop SQLite's locks
        return file_sha256(path)
    h = hashlib.sha256()
    h.update(arch.encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class Embedder:
    """A model ready to embed aligned BGR crops; outputs L2-normalised float32 vectors."""

    model: FaceEmbeddingModel
    name: str
    source: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    # Another backend computing the model's raw outputs from the normalised batch (an ONNX Runtime session,
    # core.vision.models.onnx_backend); None runs the torch module.
    runner: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        self.model = self.model.to(self.device).eval()
        self._mean, std = self.spec.channel_stats(self.device)
        self._inv_std = 1.0 / std

    @property
    def spec(self) -> InputSpec:
        return self.model.input_spec

    @property
    def dim(self) -> int:
        return self.model.embedding_dim

    @property
    def arch(self) -> str:
        return self.model.arch

    def to_tensor(self, crops_bgr: np.ndarray) -> torch.Tensor:
        """(N, S, S, 3) uint8 BGR crops -> normalised (N, 3, S, S) float RGB tensor on the device."""
        crops = np.asarray(crops_bgr)
        size = self.spec.size
        if crops.ndim == 3:
            crops = crops[None]
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise InvalidImageError(
                f"{self.name} needs aligned crops of shape (N, {size}, {size}, 3), got {crops.shape}"
            )
        x = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])).to(self.device)
        x = x.permute(0, 3, 1, 2).float()
        return (x - self._mean) * self._inv_std

    def with_runner(self, runner: Callable[[torch.Tensor], torch.Tensor] | None) -> Embedder:
        """The same model (name, weights, identity) computed by `runner` (None: by the torch module)."""
        other = dataclasses.replace(self, runner=runner)
        if "identity" in self.__dict__:
            other.__dict__["identity"] = self.identity
        return other

    @functools.cached_property
    def identity(self) -> str:
        """What identifies this model's embeddings: sha256 of its weights file, else of its tensors."""
        return weights_identity(self.source, self.arch, self.model)

    @torch.inference_mode()
    def embed(self, crops_bgr: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings (N, D) of aligned crops, computed in one batch."""
        if len(crops_bgr) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = self.to_tensor(crops_bgr)
        out = self.model(x) if self.runner is None else self.runner(x)
        out = torch.nn.functional.normalize(out.float(), dim=1)
        return out.cpu().numpy()
