"""Shared fixtures. Tests read data from ../shared (beside the checkout) and skip clearly without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A file under ../shared; the test is skipped (with the reason) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found: {path}")
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory):
    """Never write into the real user's cache or data folders. Session-wide, so that converted
    detector weights are built once and session fixtures see the same folders."""
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROLLCALL_CACHE_DIR", str(base / "user-cache"))
        mp.setenv("ROLLCALL_DATA_DIR", str(base / "user-data"))
        yield


@pytest.fixture(scope="session")
def dlib_model():
    from core.vision.models.dlib_resnet import load_dlib_resnet

    return load_dlib_resnet()


@pytest.fixture(scope="session")
def default_embedder(dlib_model):
    from core.vision.models.base import Embedder

    return Embedder(dlib_model, name="dlib")


@pytest.fixture(scope="session")
def yunet_path() -> Path:
    return shared_path("models", "face_detection_yunet_2023mar.onnx")


@pytest.fixture(scope="session")
def tiny_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 people x 2 images, each a 112x112 crop (taken as already aligned): training data for the trainer
    and Training-tab tests."""
    import cv2

    johns = shared_path("faces", "johns")
    root = tmp_path_factory.mktemp("faces")
    for person in sorted(p for p in johns.iterdir() if p.is_dir())[:3]:
        (root / person.name).mkdir()
        for image in sorted(person.glob("*.jpg"))[:2]:
            crop = cv2.resize(cv2.imread(str(image)), (112, 112), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(root / person.name / f"{image.stem}.png"), crop)
    return root


@pytest.fixture(scope="session")
def five_each(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 people x 5 images (112x112 crops, taken as aligned) plus a fourth with only 2: enough for the
    per-person 80/20 split of fine-tuning (the fourth is dropped at min_images 5)."""
    import cv2

    johns = shared_path("faces", "johns")
    root = tmp_path_factory.mktemp("five_each")
    for k, person in enumerate(sorted(p for p in johns.iterdir() if p.is_dir())[:4]):
        (root / person.name).mkdir()
        for image in sorted(person.glob("*.jpg"))[:2 if k == 3 else 5]:
            crop = cv2.resize(cv2.imread(str(image)), (112, 112), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(root / person.name / f"{image.stem}.png"), crop)
    return root


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pairs benchmark (images/ + pairs.txt) of 4 people x 3 photos copied from ../shared/faces/johns:
    10 genuine and 10 impostor pairs over 12 images, 8 of them (photos 1 and 2 of each person) on the
    image_b side. Low-resolution benchmark and eval-lowres tests."""
    import shutil

    johns = shared_path("faces", "johns")
    root = tmp_path_factory.mktemp("pairs")
    (root / "images").mkdir()
    people = sorted(p for p in johns.iterdir() if p.is_dir())[:4]
    names = {}
    for k, person in enumerate(people):
        for i, image in enumerate(sorted(person.glob("*.jpg"))[:3]):
            names[k, i] = f"{person.name}_{i}.jpg"
            shutil.copyfile(image, root / "images" / names[k, i])
    genuine = [f"{names[k, a]} {names[k, b]} 1" for k in range(4) for a, b in ((0, 1), (0, 2), (1, 2))][:10]
    impostor = [f"{names[k, i]} {names[(k + 1) % 4, 1 + i % 2]} 0" for k in range(4) for i in range(3)][:10]
    (root / "pairs.txt").write_text("# image_a image_b same(1)/different(0)\n" + "\n".join(genuine + impostor) + "\n")
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """For tests of batches of one to three faces: a second thread only adds overhead (a lot of it on a
    busy CPU). Use with pytestmark = pytest.mark.usefixtures("one_torch_thread")."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def untrained_dsr(tmp_path_factory) -> Path:
    """A small untrained DSR saved as a Rollcall checkpoint (it upscales like bicubic)."""
    from core.vision.models.checkpoint import make_checkpoint, save_atomic
    from core.vision.models.dsr import DSRNet

    path = tmp_path_factory.mktemp("dsr") / "untrained.pt"
    return save_atomic(make_checkpoint(DSRNet(channels=4, blocks=0, up_channels=4)), path)
