"""Our torch port of dlib's ResNet against dlib itself (dlib-bin is a test-only extra)."""

from __future__ import annotations

import numpy as np
import pytest

from core.vision.imageio import read_image
from core.vision.models.base import Embedder
from core.vision.models.dlib_resnet import INPUT_SPEC, DlibResNet, bundled_weights_path
from tests.conftest import shared_path

PARITY_IMAGES = [
    ("faces", "johns", "John_Salley", "000179_02159509.jpg"),
    ("faces", "johns", "John_Savage", None),
    ("faces", "johns", "John_Simm", None),
    ("faces", "bbt", "people", "amy", "amy1.png"),
    ("faces", "bbt", "people", "sheldon", "sheldon2.png"),
    ("faces", "bbt", "people", "raj", "raj3.png"),
]


def _chips() -> list[np.ndarray]:
    chips = []
    for parts in PARITY_IMAGES:
        if parts[-1] is None:
            folder = shared_path(*parts[:-1])
            path = sorted(folder.iterdir())[0]
        else:
            path = shared_path(*parts)
        img = read_image(path)
        assert img.shape == (150, 150, 3), f"{path} is not a 150x150 chip"
        chips.append(img)
    return chips


def test_embedding_equals_dlib_compute_face_descriptor(dlib_model: DlibResNet) -> None:
    dlib = pytest.importorskip("dlib", reason="dlib-bin (test extra) is needed for the parity check")
    recogniser = dlib.face_recognition_model_v1(str(bundled_weights_path()))
    embedder = Embedder(dlib_model, name="dlib")
    chips = _chips()
    ours = embedder.embed(np.stack(chips))
    for chip, mine in zip(chips, ours):
        ref = np.array(recogniser.compute_face_descriptor(np.ascontiguousarray(chip[:, :, ::-1])))
        cosine = float(np.dot(mine, ref / np.linalg.norm(ref)))
        assert cosine >= 0.9999
        raw = dlib_model(embedder.to_tensor(chip[None])).detach().numpy()[0]
        assert np.abs(raw - ref).max() < 1e-4  # same raw 128-d vector, not just the direction


def test_declares_its_input() -> None:
    assert INPUT_SPEC.size == 150 and DlibResNet.embedding_dim == 128
    assert INPUT_SPEC.template.size == 150


def test_feature_maps_for_feature_matching(dlib_model: DlibResNet) -> None:
    import torch

    emb, feats = dlib_model.forward_features(torch.zeros(2, 3, 150, 150))
    assert emb.shape == (2, 128)
    assert [f.shape[1] for f in feats] == [32, 64, 128, 256, 256]
