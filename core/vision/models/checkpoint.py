"""Self-describing checkpoints: the weights plus everything needed to rebuild and judge them.

A checkpoint is a plain dict (safe for `torch.load(weights_only=True)`):
format, format_version, arch, arch_args, state_dict, and optionally config,
step, metrics and extra; versions records the software that wrote it.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import tempfile
from pathlib import Path

import torch

import core
from core.protected_files import ensure_not_database_file
from core.vision.models.base import FaceEmbeddingModel
from core.vision.models.superres import SuperResolutionModel

CHECKPOINT_FORMAT = "rollcall.checkpoint"
CHECKPOINT_VERSION = 1


def make_checkpoint(
    model: FaceEmbeddingModel | SuperResolutionModel,
    *,
    config: dict | None = None,
    step: int | None = None,
    metrics: dict | None = None,
    extra: dict | None = None,
) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "arch": model.arch,
        "arch_args": model.arch_args(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config or {},
        "step": step,
        "metrics": metrics or {},
        "extra": extra or {},
        "versions": {
            "rollcall": core.__version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        },
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def is_checkpoint(obj: object) -> bool:
    return isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT


def save_atomic(obj: object, path: str | Path) -> Path:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    ensure_not_database_file(path, "where to save a model")  # replacing it would destroy the register
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
