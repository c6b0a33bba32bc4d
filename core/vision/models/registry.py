"""Architecture names -> model classes, so that checkpoints can rebuild what they hold."""

from __future__ import annotations

from torch import nn

from core.vision.models.base import FaceEmbeddingModel
from core.vision.models.dlib_resnet import DlibResNet
from core.vision.models.dsr import DSRNet
from core.vision.models.edgeface import EdgeFace
from core.vision.models.superres import SuperResolutionModel

ARCHITECTURES: dict[str, type[FaceEmbeddingModel]] = {
    DlibResNet.arch: DlibResNet,
    EdgeFace.arch: EdgeFace,
}
# Face super-resolution families (they upscale aligned crops; they do not embed).
SUPER_RESOLVERS: dict[str, type[SuperResolutionModel]] = {
    DSRNet.arch: DSRNet,
}


def build_model(arch: str, args: dict | None = None) -> nn.Module:
    """A freshly initialised model of architecture `arch` (an embedder or an SR model) built with `args`.
    ValueError for an unknown architecture or arguments of the wrong type or outside their documented
    ranges, raised before anything is built (a checkpoint may come from anywhere)."""
    known = ", ".join(sorted(ARCHITECTURES) + sorted(SUPER_RESOLVERS))
    if not isinstance(arch, str):
        raise ValueError(f"the architecture must be a name, got {type(arch).__name__} (known: {known})")
    cls = ARCHITECTURES.get(arch) or SUPER_RESOLVERS.get(arch)
    if cls is None:
        raise ValueError(f"unknown architecture '{arch[:80]}' (known: {known})")
    return cls(**cls.check_args({} if args is None else args))
