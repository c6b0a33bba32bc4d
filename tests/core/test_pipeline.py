from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.vision.align import ARCFACE_TEMPLATE
from core.vision.detect.base import Detection, Detector
from core.vision.detect.yunet import YuNetDetector
from core.errors import ConfigError, InvalidImageError
from core.vision.imageio import read_image
from core.vision.models.dsr import DSRNet
from core.vision.models.superres import BicubicResolver, SuperResolver
from core.vision.pipeline import FacePipeline, build_pipeline, is_dim, resolve_device
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def pipeline(yunet_path, default_embedder) -> FacePipeline:
    return FacePipeline(YuNetDetector(yunet_path), default_embedder)


def test_faces_come_with_everything(pipeline: FacePipeline) -> None:
    result = pipeline.process(read_image(shared_path("faces", "misc", "two_people.jpg")))
    assert len(result.faces) == 2
    for face in result.faces:
        assert face.crop.shape == (150, 150, 3)
        assert face.embedding.shape == (128,) and np.isclose(np.linalg.norm(face.embedding), 1.0, atol=1e-5)
        assert face.landmarks.shape == (5, 2) and face.quality.face_size > 50 and face.quality.sharpness > 0
    assert set(result.timings_ms) == {"detect", "align", "embed"}


def test_same_person_scores_higher_than_another(pipeline: FacePipeline) -> None:
    def emb(*parts: str) -> np.ndarray:
        faces = pipeline.process(read_image(shared_path(*parts))).faces
        return max(faces, key=lambda f: f.quality.face_size).embedding

    obama, obama2, biden = emb("faces", "misc", "obama.jpg"), emb("faces", "misc", "obama2.jpg"), emb("faces", "misc", "biden.jpg")
    assert obama @ obama2 > obama @ biden


def test_input_layouts_give_the_same_faces(pipeline: FacePipeline) -> None:
    bgr = read_image(shared_path("faces", "misc", "obama.jpg"))
    reference = pipeline.process(bgr).faces[0].embedding
    rgba = np.dstack([bgr[:, :, ::-1], np.full(bgr.shape[:2], 255, np.uint8)])
    variants = {
        "rgb": (bgr[:, :, ::-1].copy(), "rgb"),
        "rgba": (rgba, "rgb"),
        "uint16": (bgr.astype(np.uint16) * 257, "bgr"),
        "float": (bgr.astype(np.float32) / 255.0, "bgr"),
    }
    for name, (img, color) in variants.items():
        faces = pipeline.process(img, color=color).faces
        assert len(faces) == 1, name
        assert float(faces[0].embedding @ reference) > 0.999, name
    grey = pipeline.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)).faces
    assert len(grey) == 1 and float(grey[0].embedding @ reference) > 0.95


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (480, 640, 3)])
def test_images_without_faces_give_no_faces(pipeline: FacePipeline, shape: tuple[int, int, int]) -> None:
    assert pipeline.process(np.full(shape, 127, np.uint8)).faces == []


def test_bad_arrays_are_rejected(pipeline: FacePipeline) -> None:
    with pytest.raises(InvalidImageError):
        pipeline.process(np.zeros((0, 10, 3), np.uint8))


class _RecordingDetector(Detector):
    """Reports one face in the middle of whatever it is given, and remembers the size it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        self.seen.append((w, h))
        cx, cy, s = w / 2, h / 2, min(w, h) / 8
        lm = np.array([[cx - s, cy - s], [cx + s, cy - s], [cx, cy], [cx - s * 0.8, cy + s], [cx + s * 0.8, cy + s]])
        return [Detection(np.array([cx - 2 * s, cy - 2 * s, cx + 2 * s, cy + 2 * s]), 0.99, lm)]


def test_large_images_are_searched_reduced_but_cropped_at_full_size(default_embedder) -> None:
    detector = _RecordingDetector()
    pipe = FacePipeline(detector, default_embedder, max_detect_side=1000)
    result = pipe.process(np.zeros((6000, 8000, 3), np.uint8))
    assert detector.seen == [(1000, 750)]
    face = result.faces[0]
    assert face.box[2] - face.box[0] == pytest.approx(3000, rel=1e-3)  # back in full-image pixels
    assert face.landmarks[2] == pytest.approx([4000, 3000], rel=1e-3)


def test_device_choice() -> None:
    assert str(resolve_device("cpu")) == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu")
    if not __import__("torch").cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            resolve_device("cuda")


def test_build_pipeline_rejects_unknown_detector() -> None:
    with pytest.raises(ConfigError, match="unknown detector"):
        build_pipeline("haar")
    with pytest.raises(ConfigError, match="needs its model file"):
        build_pipeline("yunet")


class _TwoFaces(Detector):
    """One face 160 px wide and one 16 px wide (face width as in core.vision.degrade)."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        out = []
        for width, (cx, cy) in ((160, (200, 240)), (16, (500, 240))):
            lm = (ARCFACE_TEMPLATE.array() - 56) * (width / 112) + [cx, cy]
            out.append(Detection(np.array([cx - width / 2, cy - width / 2, cx + width / 2, cy + width / 2]), 0.9, lm))
        return out


class _RecordingResolver:
    """Bicubic upscaling that remembers how many crops it was given."""

    def __init__(self) -> None:
        self._inner = BicubicResolver()
        self.input_template, self.template = self._inner.input_template, self._inner.template
        self.calls: list[int] = []

    def upscale(self, crops: np.ndarray) -> np.ndarray:
        self.calls.append(len(crops))
        return self._inner.upscale(crops)


def _textured(seed: int = 0) -> np.ndarray:
    return cv2.GaussianBlur(np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 2)


def test_only_faces_below_the_size_go_through_the_resolver(default_embedder) -> None:
    resolver = _RecordingResolver()
    pipe = FacePipeline(_TwoFaces(), default_embedder, resolver=resolver, sr_below_px=24)
    faces = pipe.process(_textured()).faces
    assert resolver.calls == [1]  # the 16 px face only, the 160 px one is aligned directly
    assert [f.crop.shape for f in faces] == [(150, 150, 3)] * 2
    assert all(np.isclose(np.linalg.norm(f.embedding), 1.0, atol=1e-5) for f in faces)
    direct = FacePipeline(_TwoFaces(), default_embedder).process(_textured()).faces
    assert np.array_equal(faces[0].crop, direct[0].crop) and not np.array_equal(faces[1].crop, direct[1].crop)
    resolver.calls.clear()
    FacePipeline(_TwoFaces(), default_embedder, resolver=resolver, sr_below_px=12).process(_textured())
    assert resolver.calls == []  # nothing is that small
    assert [f.route for f in faces] == ["direct", "small"]  # each face says which route it took


def test_routing_without_a_model_uses_bicubic(default_embedder) -> None:
    pipe = FacePipeline(_TwoFaces(), default_embedder, sr_below_px=24)
    assert isinstance(pipe.resolver, BicubicResolver)
    assert FacePipeline(_TwoFaces(), default_embedder).resolver is None  # off by default
    recorded = FacePipeline(_TwoFaces(), default_embedder, resolver=_RecordingResolver(), sr_below_px=24)
    a, b = pipe.process(_textured()).faces[1], recorded.process(_textured()).faces[1]
    assert np.array_equal(a.crop, b.crop)
    dsr = FacePipeline(_TwoFaces(), default_embedder, resolver=SuperResolver(DSRNet(), name="dsr"), sr_below_px=24)
    c = dsr.process(_textured()).faces[1]  # an untrained DSR is bicubic in torch: nearly the same crop
    assert np.abs(c.crop.astype(int) - a.crop.astype(int)).mean() < 2.0
    with pytest.raises(ConfigError):
        FacePipeline(_TwoFaces(), default_embedder, sr_below_px=-1)


# --- second looks: dim light and tight crops ------------------------------------------------------------


class _Looks(Detector):
    """Finds nothing; remembers the size and mean grey level of every image it was asked about."""

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[int, int], float]] = []

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.seen.append((image.shape[:2], float(image.mean())))
        return []


def test_extra_looks_happen_only_when_nothing_was_found(default_embedder) -> None:
    found = _RecordingDetector()
    FacePipeline(found, default_embedder).detect(np.full((480, 640, 3), 20, np.uint8))
    assert len(found.seen) == 1  # a face found: no second look, even on a dark frame
    bright = np.full((480, 640, 3), 80, np.uint8)
    bright[:, 320:] = 220  # contrasty and well lit everywhere: not dim
    assert not is_dim(bright)
    looks = _Looks()
    FacePipeline(looks, default_embedder).detect(bright)
    assert [size for size, _ in looks.seen] == [(480, 640), (300, 360)]  # then reduced to 240 px, padded
    looks = _Looks()
    FacePipeline(looks, default_embedder).detect(np.full((480, 640, 3), 20, np.uint8))
    assert [size for size, _ in looks.seen] == [(480, 640), (480, 640), (300, 360)]
    assert looks.seen[1][1] > 60 > looks.seen[0][1]  # the dim frame's second look was brightened
    looks = _Looks()
    off = FacePipeline(looks, default_embedder)
    off.second_look = False
    off.detect(np.full((480, 640, 3), 20, np.uint8))
    assert len(looks.seen) == 1


def _darken(image: np.ndarray) -> np.ndarray:
    from bench.dim_light import darken

    return darken(image, gamma=2.5, low=0.2)


def test_a_face_in_dim_uneven_light_is_found_on_a_second_look(default_embedder) -> None:
    from core.vision.detect import create_detector

    detector = create_detector("mtcnn")
    photo = read_image(shared_path("faces", "johns", "John_Shimkus", "000385_03227766.jpg"))
    dark = _darken(photo)
    assert detector.detect(photo) and detector.detect(dark) == []  # the first pass misses the dark copy
    pipe = FacePipeline(detector, default_embedder)
    pipe.second_look = False
    assert pipe.detect(dark) == []  # not even with the padded look photos this small always had
    pipe.second_look = True
    faces = pipe.process(dark).faces
    assert len(faces) == 1
    normal = pipe.process(photo).faces[0]
    assert np.abs(faces[0].landmarks - normal.landmarks).max() < 6  # the same face, in image pixels
    assert faces[0].crop.mean() < normal.crop.mean() - 30  # the crop is cut from the dark image itself


@pytest.mark.parametrize("detector_spec, name", [
    ("yunet", ("John_Savage", "000264_01099001.jpg")),
    ("mtcnn", ("John_Savage", "000299_01099008.jpg")),
])
def test_a_face_that_fills_a_large_photo_is_found(detector_spec, name, yunet_path, default_embedder) -> None:
    from bench.dim_light import tight_crop
    from core.vision.detect import create_detector

    detector = create_detector(f"yunet:{yunet_path}" if detector_spec == "yunet" else "mtcnn")
    photo = read_image(shared_path("faces", "johns", *name))
    box = create_detector("mtcnn").detect(photo)[0].box
    scan = tight_crop(photo, box, margin=-0.2, side=800)  # cut inside the face box, upscaled: an ID-card scan
    assert max(scan.shape[:2]) == 800 and detector.detect(scan) == []
    pipe = FacePipeline(detector, default_embedder)
    pipe.second_look = False
    assert pipe.detect(scan) == []
    pipe.second_look = True
    assert pipe.detect(scan, video_frame=True) == []  # a camera frame this large gets no bordered look
    faces = pipe.process(scan).faces
    assert len(faces) == 1
    face = faces[0]
    h, w = scan.shape[:2]
    assert 0 <= face.box[0] < face.box[2] <= w and 0 <= face.box[1] < face.box[3] <= h
    assert face.quality.face_width > 400  # found at full size: the crop is cut from the 800 px image
    assert 0.3 * w < face.landmarks[2][0] < 0.7 * w  # the nose near the middle of the scan
