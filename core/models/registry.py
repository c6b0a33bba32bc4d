"""Architecture names -> model classes, so that checkpoints can rebuild what they hold."""

from __future__ import annotations

from core.models.base import FaceEmbeddingModel
from core.models.dlib_resnet import DlibResNet
from core.models.edgeface import EdgeFace

ARCHITECTURES: dict[str, type[FaceEmbeddingModel]] = {
    DlibResNet.arch: DlibResNet,
    EdgeFace.arch: EdgeFace,
}


def build_model(arch: str, args: dict | None = None) -> FaceEmbeddingModel:
    """A freshly initialised model of architecture `arch` built with `args`."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture '{arch}' (known: {known})") from None
    return cls(**(args or {}))
