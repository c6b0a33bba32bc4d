"""Tiny face datasets for the trainer tests: 112x112 crops cut from ../shared/faces/johns."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import yaml

from tests.conftest import shared_path

TINY = {  # a config every test can start from: 2 steps, batch 1, one validation face
    "val_fraction": 0.34, "epochs": 1, "max_steps": 2, "batch_size": 1, "log_every": 1, "warmup_steps": 0,
    "device": "cpu", "max_val_images": 1, "dsr": {"channels": 8, "blocks": 1, "up_channels": 4},
}


@pytest.fixture(scope="session")
def tiny_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 people x 2 images, each a 112x112 crop (taken as already aligned)."""
    johns = shared_path("faces", "johns")
    root = tmp_path_factory.mktemp("faces")
    for person in sorted(p for p in johns.iterdir() if p.is_dir())[:3]:
        (root / person.name).mkdir()
        for image in sorted(person.glob("*.jpg"))[:2]:
            crop = cv2.resize(cv2.imread(str(image)), (112, 112), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(root / person.name / f"{image.stem}.png"), crop)
    return root


def write_config(path: Path, data: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump({**TINY, "data": str(data), **overrides}), encoding="utf-8")
    return path
