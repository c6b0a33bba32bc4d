"""Helpers for gallery tests: synthetic face samples and small real embedders."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from core.gallery.faces import FACE_SIZE, FACE_TEMPLATE, FaceSample
from core.vision.models.base import Embedder
from core.vision.models.edgeface import EdgeFace


def synthetic_sample(seed: int, source: str = "test") -> FaceSample:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(FACE_SIZE // 16, FACE_SIZE // 16, 3)).astype(np.float32)
    smooth = cv2.resize(noise, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_CUBIC)  # JPEG-friendly
    face = np.clip(128 + 40 * smooth, 0, 255).astype(np.uint8)
    return FaceSample(face, FACE_TEMPLATE.array().astype(np.float32), 120.0, 80.0, 0.0, 0.99, source)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def tiny_embedder(seed: int = 0, name: str = "tiny") -> Embedder:
    """A randomly initialised EdgeFace-XXS: fast, deterministic, a distinct model per seed."""
    torch.manual_seed(seed)
    model = EdgeFace.variant("xxs").eval()
    model.default_threshold = 0.5
    return Embedder(model, name=f"{name}-{seed}")
