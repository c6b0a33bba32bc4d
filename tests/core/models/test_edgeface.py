from __future__ import annotations

import numpy as np
import pytest
import torch

from core.vision.align import align_face
from core.vision.detect.yunet import YuNetDetector
from core.vision.imageio import read_image
from core.benchmarks.metrics import roc_auc
from core.vision.models.base import Embedder
from core.vision.models.edgeface import VARIANTS, EdgeFace, infer_edgeface_args
from core.vision.models.loading import load_model
from tests.conftest import shared_path


@pytest.mark.parametrize(
    "name, millions",
    [("xxs", 1.24), ("xs", 2.24), ("xs_gamma_06", 1.77), ("s_gamma_05", 3.65)],
)
def test_variant_sizes(name: str, millions: float) -> None:
    n = sum(p.numel() for p in EdgeFace.variant(name).parameters())
    assert n / 1e6 == pytest.approx(millions, abs=0.01)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_architecture_is_read_back_from_keys_and_shapes(name: str) -> None:
    model = EdgeFace.variant(name)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert infer_edgeface_args(shapes) == model.arch_args()


def test_low_rank_layers_use_the_edgeface_rank_rule() -> None:
    model = EdgeFace.variant("xs_gamma_06")
    fc1 = model.stages[2].blocks[0].mlp.fc1
    assert fc1.linear1.weight.shape == (int(100 * 0.6), 100)  # rank = int(min(in, out) * 0.6)
    assert model.head.fc.linear2.weight.shape == (512, int(192 * 0.6))


def test_output_and_features() -> None:
    model = EdgeFace.variant("xxs").eval()
    with torch.no_grad():
        emb, feats = model.forward_features(torch.zeros(2, 3, 112, 112))
    assert emb.shape == (2, 512)
    assert [f.shape[1:] for f in feats] == [(24, 28, 28), (48, 14, 14), (88, 7, 7), (168, 3, 3)]


@pytest.fixture(scope="module")
def face_sets(yunet_path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Landmarks of the largest face in each image of the johns and bbt sets (YuNet)."""
    detector = YuNetDetector(yunet_path, score_threshold=0.5)
    sets: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, pattern in (("johns", "johns/*/*.jpg"), ("bbt", "bbt/people/*/*.png")):
        root = shared_path("faces")
        items = []
        for path in sorted(root.glob(pattern)):
            img = read_image(path)
            dets = detector.detect(img)
            assert dets, f"no face found in {path}"
            best = max(dets, key=lambda d: d.width * d.height)
            items.append((path.parent.name, img, best.landmarks))
        sets[name] = items
    return sets


@pytest.mark.parametrize("filename", ["edgeface_xxs_q.pt", "edgeface_xs_q.pt"])
@pytest.mark.parametrize("subset", ["johns", "bbt"])
def test_int8_edgeface_separates_people(filename: str, subset: str, face_sets) -> None:
    model = load_model(shared_path("models", filename))
    embedder = Embedder(model, name=filename)
    items = face_sets[subset]
    crops = np.stack([align_face(img, lm, embedder.spec.template, 112) for _, img, lm in items])
    emb = embedder.embed(crops)
    labels = np.array([person for person, _, _ in items])
    iu = np.triu_indices(len(labels), 1)
    same = (labels[:, None] == labels[None])[iu]
    sims = (emb @ emb.T)[iu]
    genuine, impostor = sims[same], sims[~same]
    assert genuine.mean() > impostor.mean() + 0.3
    assert roc_auc(sims, same) > 0.99
