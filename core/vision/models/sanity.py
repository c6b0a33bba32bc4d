"""Is a model's content plausible? Checks on the tensors of a file, and a probe of a new embedder.

The tensor checks run on every file that loads (they are cheap): real data on the CPU, dense, no shape
larger than the values stored, floating point where the model computes in floats, finite and of a sane
magnitude. The probe runs before a new embedder is activated or promoted: a few synthetic faces must give
finite, non-zero and distinct embeddings, or recognition would be silently dead.

Rules: docs/MODELS.md#loading-a-model-file
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch

from core.errors import DamagedModelError, ModelFileError
from core.vision.models.base import Embedder

MAX_ABS_WEIGHT = 1e6  # trained weights stay within a few hundred; a flipped exponent bit gives 1e18 or more
PROBE_FACES = 6
COLLAPSE_COSINE = 0.995  # mean cosine between the probe faces' embeddings; dlib's own is about 0.95
_DAMAGED_FIX = "Train, export or download the model again; the file is damaged or was converted wrongly."


def check_stored_tensor(key: str, value: torch.Tensor, path: Path) -> None:
    """A tensor as read from a file, before anything is built from its shape."""
    if value.is_meta or value.device.type != "cpu":
        raise ModelFileError(path, f"entry '{key}' holds no values (a '{value.device.type}' tensor: only its "
                                   f"shape was saved)", "Save the weights after loading them onto the CPU.")
    if value.layout != torch.strided:
        raise ModelFileError(path, f"entry '{key}' is a sparse tensor ({value.layout}); model weights are dense",
                             "Save the weights with tensor.to_dense().")
    if value.numel() * value.element_size() > value.untyped_storage().nbytes():
        raise ModelFileError(path, f"entry '{key}' claims a {tuple(value.shape)} shape but stores only "
                                   f"{value.untyped_storage().nbytes()} bytes of values", _DAMAGED_FIX)


def check_dtype(key: str, value: torch.Tensor, expected: torch.dtype, path: Path) -> None:
    """Floating-point weights where the model expects floats, integers where it counts."""
    if expected.is_floating_point and not value.dtype.is_floating_point:
        raise DamagedModelError(path, f"parameter '{key}' is stored as {value.dtype}, but the model computes with "
                                      f"floating-point weights (the values were cast and have lost their fractions)",
                                _DAMAGED_FIX)
    if not expected.is_floating_point and (value.dtype.is_floating_point or value.dtype.is_complex):
        raise DamagedModelError(path, f"entry '{key}' is stored as {value.dtype}, but the model keeps a count "
                                      f"({expected}) there", _DAMAGED_FIX)


def check_weights(model: torch.nn.Module, path: Path) -> None:
    """Every floating-point weight finite and below MAX_ABS_WEIGHT in magnitude."""
    for name, tensor in model.state_dict().items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        peak = float(tensor.abs().max())  # NaN when any value is NaN (torch's max propagates it)
        if not math.isfinite(peak):
            raise DamagedModelError(path, f"parameter '{name}' contains NaN or infinite values", _DAMAGED_FIX)
        if peak > MAX_ABS_WEIGHT:
            raise DamagedModelError(path, f"parameter '{name}' holds a value of magnitude {peak:.3g}, far beyond "
                                          f"any trained weight (at most {MAX_ABS_WEIGHT:g})", _DAMAGED_FIX)


def probe_faces(size: int, count: int = PROBE_FACES) -> np.ndarray:
    """`count` distinct, smooth, face-sized BGR images (seeded: the same every time)."""
    rng = np.random.default_rng(2024)
    faces = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        grid = (3, 5, 8, 12, 20, 30)[i % 6]
        noise = rng.normal(size=(grid, grid, 3)).astype(np.float32)
        smooth = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
        faces[i] = np.clip(rng.uniform(70, 180) + rng.uniform(30, 70) * smooth, 0, 255).astype(np.uint8)
    return faces


def probe_embedder(embedder: Embedder) -> None:
    """DamagedModelError unless different synthetic faces get finite, non-zero and distinct embeddings."""
    path = Path(embedder.source or embedder.name)
    try:
        with torch.inference_mode():
            raw = embedder.model(embedder.to_tensor(probe_faces(embedder.spec.size))).float().cpu()
    except (RuntimeError, ValueError) as exc:
        raise DamagedModelError(path, f"the model fails on a test face ({str(exc).strip()[:200]})",
                                _DAMAGED_FIX) from None
    if raw.ndim != 2 or raw.shape != (PROBE_FACES, embedder.dim):
        raise DamagedModelError(path, f"the model gives embeddings of shape {tuple(raw.shape)}, not "
                                      f"({PROBE_FACES}, {embedder.dim})", _DAMAGED_FIX)
    if not torch.isfinite(raw).all():
        raise DamagedModelError(path, "the model gives NaN or infinite embeddings: its weights are damaged",
                                _DAMAGED_FIX)
    norms = raw.norm(dim=1)
    if bool((norms <= 1e-12).any()):
        raise DamagedModelError(path, "the model gives the same embedding (all zeros) for different faces: its weights "
                                      "look blank or damaged",
                                _DAMAGED_FIX)
    unit = raw / norms[:, None]
    cosines = (unit @ unit.T)[torch.triu_indices(PROBE_FACES, PROBE_FACES, 1).unbind()]
    if float(cosines.mean()) >= COLLAPSE_COSINE or float((raw - raw[0]).abs().max()) == 0.0:
        raise DamagedModelError(path, "the model gives the same embedding for different faces: its weights look "
                                      "blank or damaged", _DAMAGED_FIX)
