"""MTCNN detector: networks, packed pyramid, detections and landmarks on real photos."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import torch

from core.vision.detect.base import Detection
from core.vision.detect.mtcnn import MTCNNDetector, nms, pack_levels
from core.vision.detect.mtcnn_nets import max_pool_same, to_network_input
from core.errors import ConfigError, InvalidImageError
from tests.conftest import SHARED

FACES = SHARED / "faces"
needs_faces = pytest.mark.skipif(
    not FACES.is_dir(), reason=f"test photos not found at {FACES.resolve()} (shared/ beside the checkout)"
)

# dlib-style 150x150 aligned crops put these points here (left eye, right eye, nose tip, mouth corners).
JOHNS_LANDMARKS = np.array([(47, 47), (100, 47), (74, 77), (50, 103), (98, 103)], dtype=np.float64)


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROLLCALL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def detector(cache_env: None) -> MTCNNDetector:
    return MTCNNDetector()


def read(relative: str) -> np.ndarray:
    image = cv2.imread(str(FACES / relative), cv2.IMREAD_COLOR)
    assert image is not None, relative
    return image


def assert_sane(detections: list[Detection], image: np.ndarray) -> None:
    """Sorted by score, boxes inside the image, landmark arrays shaped (5, 2)."""
    h, w = image.shape[:2]
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)
    for d in detections:
        assert d.box.shape == (4,) and d.landmarks.shape == (5, 2)
        assert 0 <= d.box[0] <= d.box[2] <= w and 0 <= d.box[1] <= d.box[3] <= h
        assert 0.0 <= d.score <= 1.0


def assert_face_layout(marks: np.ndarray) -> None:
    """Left eye/mouth corner on the image's left; eyes above the nose above the mouth."""
    left_eye, right_eye, nose, left_mouth, right_mouth = marks
    assert left_eye[0] < nose[0] < right_eye[0]
    assert left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


# --------------------------------------------------------------------------- configuration and inputs


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_face_size": 11.9},
        {"min_face_size": 0},
        {"thresholds": (0.6, 0.7)},
        {"thresholds": (0.6, 0.7, 1.5)},
        {"factor": 1.0},
        {"max_faces": 0},
    ],
)
def test_invalid_settings_raise_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        MTCNNDetector(**kwargs)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((480, 640, 3), np.uint8),
        np.full((300, 200, 3), 255, np.uint8),
        np.full((1, 1, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (11, 30, 3), dtype=np.uint8),
        np.zeros((0, 0, 3), np.uint8),
    ],
    ids=["black", "white", "1x1", "11px", "empty"],
)
def test_images_without_faces_give_nothing(detector: MTCNNDetector, image: np.ndarray) -> None:
    assert detector.detect(image) == []


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((50, 50), np.uint8),
        np.zeros((50, 50, 3), np.float32),
        np.zeros((50, 50, 4), np.uint8),
        [[0]],
    ],
    ids=["grey", "float", "bgra", "list"],
)
def test_wrong_image_types_are_rejected(detector: MTCNNDetector, image: np.ndarray) -> None:
    with pytest.raises(InvalidImageError):
        detector.detect(image)


def test_smallest_min_face_size_is_accepted(cache_env: None) -> None:
    detector = MTCNNDetector(min_face_size=12)
    assert detector.detect(np.zeros((12, 12, 3), np.uint8)) == []


# --------------------------------------------------------------------------- building blocks


def test_max_pool_same_matches_tensorflow_padding() -> None:
    """TF "same": ceil(n / s) outputs, padding split with the odd cell after the data, never winning."""
    import math

    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    for kernel, stride in [(2, 2), (3, 2), (2, 1), (3, 1), (5, 2)]:
        for h in range(1, 12):
            for w in (1, 4, 7, 12):
                x = torch.randn(2, 3, h, w, generator=generator)
                ph = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
                pw = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
                padded = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=-math.inf)
                torch.testing.assert_close(max_pool_same(x, kernel, stride), F.max_pool2d(padded, kernel, stride))


def _greedy_nms_reference(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str) -> list[int]:
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    area = lambda b: (b[2] - b[0] + 1) * (b[3] - b[1] + 1)  # noqa: E731
    keep: list[int] = []
    for i in order:
        ok = True
        for k in keep:
            a, b = boxes[i].astype(np.float64), boxes[k].astype(np.float64)
            iw = max(min(a[2], b[2]) - max(a[0], b[0]) + 1, 0)
            ih = max(min(a[3], b[3]) - max(a[1], b[1]) + 1, 0)
            inter = iw * ih
            denominator = min(area(a), area(b)) if mode == "min" else area(a) + area(b) - inter
            ok = ok and inter / denominator <= threshold
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("mode", ["union", "min"])
def test_nms_is_the_greedy_rule(mode: str) -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 200, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 40, (300, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0.5, 1.0, 300).astype(np.float32)
    for threshold in (0.3, 0.5, 0.7):
        assert nms(boxes, scores, threshold, mode).tolist() == _greedy_nms_reference(boxes, scores, threshold, mode)
    assert nms(boxes[:0], scores[:0], 0.5, mode).tolist() == []


def test_packing_is_tight_even_and_overlap_free() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        h0, w0 = rng.integers(12, 800, 2)
        sizes = [(int(np.ceil(h0 * 0.709**k)), int(np.ceil(w0 * 0.709**k))) for k in range(12)]
        sizes = [s for s in sizes if min(s) >= 12]
        origins, (canvas_h, canvas_w) = pack_levels(sizes)
        used = np.zeros((canvas_h, canvas_w), np.int32)
        for (y, x), (h, w) in zip(origins, sizes, strict=True):
            assert y % 2 == 0 and x % 2 == 0
            assert y + h <= canvas_h and x + w <= canvas_w
            used[y : y + h, x : x + w] += 1
        assert used.max() == 1
        assert used.sum() / used.size > 0.75  # a 0.709 pyramid fills most of the canvas


@needs_faces
def test_packed_pyramid_equals_per_level_pnet(detector: MTCNNDetector) -> None:
    """One PNet pass over the packed canvas gives each level's own PNet output, cell for cell."""
    rgb = cv2.cvtColor(read("bbt/group/bbt3.jpg"), cv2.COLOR_BGR2RGB)
    levels = detector.pyramid(rgb)
    assert len(levels) > 5 and any(lv.image.shape[0] % 2 or lv.image.shape[1] % 2 for lv in levels)
    packed = detector.pnet_maps(levels)
    with torch.inference_mode():
        for level, (prob, reg) in zip(levels, packed, strict=True):
            ref_reg, ref_prob = detector.pnet(to_network_input(level.image, detector.device))
            ny, nx = prob.shape
            # Every cell whose 12x12 window fits the level; the per-level run may add one edge cell.
            assert ny == (level.image.shape[0] - 12) // 2 + 1 and ref_prob.shape[1] - ny in (0, 1)
            assert nx == (level.image.shape[1] - 12) // 2 + 1 and ref_prob.shape[2] - nx in (0, 1)
            np.testing.assert_allclose(prob, ref_prob[0, :ny, :nx].numpy(), atol=1e-5)
            np.testing.assert_allclose(reg, ref_reg[0, :, :ny, :nx].numpy(), atol=1e-4)


# --------------------------------------------------------------------------- real photos


@needs_faces
def test_one_face_in_obama(detector: MTCNNDetector) -> None:
    image = read("misc/obama.jpg")
    found = detector.detect(image)
    assert_sane(found, image)
    # With these weights the blurred background by his shoulder also scores ~0.90 (above
    # every stock ONet threshold), so "one face" means one confident detection.
    assert len([d for d in found if d.score >= 0.95]) == 1
    face = found[0]
    assert face.score > 0.99
    assert 200 < face.width < 300 and 280 < face.height < 380  # about 245 x 335 px
    x1, y1, x2, y2 = face.box
    assert ((face.landmarks >= [x1, y1]) & (face.landmarks <= [x2, y2])).all()
    assert_face_layout(face.landmarks)


@needs_faces
@pytest.mark.parametrize("name", ["misc/obama-240p.jpg", "misc/obama_small.jpg"])
def test_one_face_in_small_obama(detector: MTCNNDetector, name: str) -> None:
    found = detector.detect(read(name))
    assert len(found) == 1
    assert_face_layout(found[0].landmarks)


@needs_faces
def test_two_people(detector: MTCNNDetector) -> None:
    image = read("misc/two_people.jpg")
    found = detector.detect(image)
    assert_sane(found, image)
    assert len(found) == 2
    for d in found:
        assert_face_layout(d.landmarks)


@needs_faces
@pytest.mark.parametrize(
    ("name", "faces"),
    # People whose faces are visible in each group photo (the 8 cast members are spread over all five).
    [("bbt/group/bbt1.jpg", 4), ("bbt/group/bbt3.jpg", 5), ("bbt/group/bbt4.jpg", 6), ("bbt/group/bbt5.jpg", 5)],
)
def test_group_photos(detector: MTCNNDetector, name: str, faces: int) -> None:
    image = read(name)
    found = detector.detect(image)
    assert_sane(found, image)
    confident = [d for d in found if d.score >= 0.9]
    assert len(confident) == faces
    for d in confident:
        assert_face_layout(d.landmarks)


@needs_faces
def test_landmarks_on_aligned_crops(detector: MTCNNDetector) -> None:
    """On dlib-aligned crops the five points must land on the template: checks conversion and order."""
    files = sorted(FACES.glob("johns/*/*.jpg"))
    assert len(files) >= 20
    errors = []
    for path in files:
        found = detector.detect(cv2.imread(str(path)))
        assert found, path
        errors.append(np.linalg.norm(found[0].landmarks - JOHNS_LANDMARKS, axis=1))
    per_point = np.mean(errors, axis=0)
    assert per_point.mean() < 5.0, per_point  # measured 3.9 px
    assert per_point.max() < 7.0, per_point  # measured 2.6 (right eye) .. 5.3 (right mouth corner)


@needs_faces
def test_input_layout_does_not_matter(detector: MTCNNDetector) -> None:
    image = read("bbt/group/bbt3.jpg")
    wide = np.zeros((image.shape[0], image.shape[1] * 2, 3), np.uint8)
    wide[:, ::2] = image
    view = wide[:, ::2]  # same pixels, not C-contiguous
    assert not view.flags.c_contiguous
    a, b = detector.detect(image), detector.detect(view)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.box, y.box)
        np.testing.assert_array_equal(x.landmarks, y.landmarks)


@needs_faces
def test_max_faces_keeps_the_most_confident(detector: MTCNNDetector, cache_env: None) -> None:
    image = read("bbt/group/bbt4.jpg")
    everything = detector.detect(image)
    two = MTCNNDetector(max_faces=2).detect(image)
    assert [d.score for d in two] == [d.score for d in everything[:2]]


@needs_faces
def test_detect_batch_equals_detect(detector: MTCNNDetector) -> None:
    images = [read("misc/two_people.jpg"), np.zeros((40, 40, 3), np.uint8), read("misc/obama-240p.jpg")]
    batch = detector.detect_batch(images)
    assert [len(r) for r in batch] == [len(detector.detect(im)) for im in images]


@pytest.mark.gpu
@needs_faces
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(detector: MTCNNDetector, cache_env: None) -> None:
    image = read("misc/two_people.jpg")
    cpu, gpu = detector.detect(image), MTCNNDetector(device="cuda").detect(image)
    assert len(cpu) == len(gpu)
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(a.box, b.box, atol=1.0)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1.0)
