"""Tiny face datasets for the trainer tests: 112x112 crops cut from ../shared/faces/johns."""

from __future__ import annotations

from pathlib import Path

import yaml


TINY = {  # a config every test can start from: 2 steps, batch 1, one validation face
    "val_fraction": 0.34, "epochs": 1, "max_steps": 2, "batch_size": 1, "log_every": 1, "warmup_steps": 0,
    "device": "cpu", "max_val_images": 1, "dsr": {"channels": 8, "blocks": 1, "up_channels": 4},
}


def write_config(path: Path, data: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump({**TINY, "data": str(data), **overrides}), encoding="utf-8")
    return path
