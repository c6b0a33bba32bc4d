"""Tiny face datasets for the trainer tests: 112x112 crops cut from ../shared/faces/johns."""

from __future__ import annotations

from pathlib import Path

import yaml


TINY = {  # a config every test can start from: 2 steps, batch 1, one validation face
    "val_fraction": 0.34, "epochs": 1, "max_steps": 2, "batch_size": 1, "log_every": 1, "warmup_steps": 0,
    "device": "cpu", "max_val_images": 1, "dsr": {"channels": 8, "blocks": 1, "up_channels": 4},
}


def copy_photos(johns: Path, root: Path, people: int = 3, each: int = 3) -> Path:
    """`people` x `each` photos of 150x150 from ../shared/faces/johns, copied as they are (not aligned
    crops): every one goes through the face detector when a job prepares its data."""
    import shutil

    for person in sorted(p for p in johns.iterdir() if p.is_dir())[:people]:
        (root / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*.jpg"))[:each]:
            shutil.copyfile(image, root / person.name / image.name)
    return root


def write_config(path: Path, data: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump({**TINY, "data": str(data), **overrides}), encoding="utf-8")
    return path


def enrol_tiny_faces(gallery, tiny_faces: Path) -> None:
    """Enrol the tiny dataset's people in `gallery` from their 112 px crops (a random embedder's vectors:
    the trainer reads only the stored faces)."""
    import numpy as np

    from core.vision.align import ARCFACE_TEMPLATE
    from core.gallery.faces import face_sample_from
    from core.vision.imageio import read_image
    from tests.core.gallery_fixtures import tiny_embedder

    embedder = tiny_embedder()
    model = gallery.register_model(embedder)
    for folder in sorted(p for p in tiny_faces.iterdir() if p.is_dir()):
        samples = [face_sample_from(read_image(f), ARCFACE_TEMPLATE.array(), face_size=112.0, sharpness=50.0,
                                    yaw=0.0, det_score=1.0, source=str(f)) for f in sorted(folder.iterdir())]
        gallery.add_person(folder.name, samples, np.eye(len(samples), embedder.dim, dtype=np.float32), model)


def tiny_embedder_file(path: Path, seed: int = 0) -> Path:
    """A small random EdgeFace saved as a Rollcall checkpoint: the model the fine-tuning tests tune."""
    import torch

    from core.vision.models.checkpoint import make_checkpoint, save_atomic
    from core.vision.models.edgeface import EdgeFace

    torch.manual_seed(seed)
    model = EdgeFace(dims=(8, 16, 24, 32), depths=(1, 1, 1, 1), heads=(2, 2, 2, 2), embedding_dim=32)
    return save_atomic(make_checkpoint(model), path)
