"""Degradations: seeded, shape-keeping, and the face ends up as wide as asked."""

from __future__ import annotations

import numpy as np
import pytest

from core.vision.align import ARCFACE_TEMPLATE
from core.vision.degrade import (
    Degradation, degrade_face, downscale_face, face_width, landmark_noise, training_pair,
)


def _face_image(face_px: float = 200.0) -> tuple[np.ndarray, np.ndarray]:
    """A textured 480x640 image and landmarks of a face `face_px` wide, slightly rotated."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    angle = np.deg2rad(10)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (ARCFACE_TEMPLATE.array() - 56) * (face_px / 112) @ rot.T + [320, 240]
    return image, pts


def test_face_width_follows_the_template() -> None:
    assert face_width(ARCFACE_TEMPLATE.array()) == pytest.approx(112)
    assert face_width(_face_image(200)[1]) == pytest.approx(200)


@pytest.mark.parametrize("face_px", [12, 16, 24, 32])
def test_downscale_gives_the_asked_face_width(face_px: int) -> None:
    image, lm = _face_image(200)
    small, small_lm = downscale_face(image, lm, face_px)
    assert small.dtype == np.uint8 and small.shape[2] == 3
    assert abs(small.shape[1] - 640 * face_px / 200) <= 1  # the image shrank by the same factor
    assert abs(face_width(small_lm) - face_px) <= 1
    again, _ = downscale_face(image, lm, face_px)
    assert np.array_equal(small, again)


def test_downscale_never_enlarges() -> None:
    image, lm = _face_image(20)
    small, small_lm = downscale_face(image, lm, 32)
    assert small.shape == image.shape and np.allclose(small_lm, lm)


def test_training_degradation_is_seeded_and_keeps_layout() -> None:
    image, lm = _face_image(180)
    first = degrade_face(image, lm, np.random.default_rng(3))
    again = degrade_face(image, lm, np.random.default_rng(3))
    other = degrade_face(image, lm, np.random.default_rng(4))
    assert first.shape == (28, 28, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    grey = degrade_face(image[:, :, 0], lm, np.random.default_rng(3), out_size=32)
    assert grey.shape == (32, 32) and grey.dtype == np.uint8


def test_every_step_can_be_forced() -> None:
    image, lm = _face_image(180)
    always = Degradation(face_px=(16, 16), blur_prob=1, noise_prob=1, jpeg_prob=1, jitter_px=0.5)
    never = Degradation(face_px=(16, 16), blur_prob=0, noise_prob=0, jpeg_prob=0, jitter_px=0, shift_px=0)
    rng = np.random.default_rng(0)
    a = degrade_face(image, lm, rng, params=always)
    b = degrade_face(image, lm, np.random.default_rng(0), params=never)
    assert a.shape == b.shape == (28, 28, 3) and not np.array_equal(a, b)


def _aligned_landmarks(monkeypatch, params: Degradation, seed: int) -> np.ndarray:
    """The low-res landmarks degrade_face aligns the crop with."""
    import core.vision.degrade

    seen = []
    real = core.vision.degrade.align_face
    monkeypatch.setattr(core.vision.degrade, "align_face", lambda img, lm, *a: seen.append(np.array(lm)) or real(img, lm, *a))
    image, lm = _face_image(180)
    degrade_face(image, lm, np.random.default_rng(seed), params=params)
    return seen[-1]


def test_landmarks_move_each_and_all_together(monkeypatch) -> None:
    off = Degradation(face_px=(16, 16), blur_prob=0, noise_prob=0, jpeg_prob=0, jitter_px=0, shift_px=0)
    exact = _aligned_landmarks(monkeypatch, off, 0)
    shifted = [_aligned_landmarks(monkeypatch, Degradation(**{**off.__dict__, "shift_px": 1.2}), s) - exact
               for s in range(200)]
    for moved in shifted:  # the whole face moves: the same offset for all five points
        assert np.allclose(moved, moved[0])
    offsets = np.array([m[0] for m in shifted])
    assert 0.9 < offsets.std() < 1.5  # per axis, about shift_px
    jittered = _aligned_landmarks(monkeypatch, Degradation(**{**off.__dict__, "jitter_px": 0.8}), 0) - exact
    assert not np.allclose(jittered, jittered[0])  # each point moves on its own
    assert Degradation().shift_px > 0 and Degradation().jitter_px > 0  # the training default models both


def test_each_detector_has_its_measured_landmark_noise() -> None:
    assert landmark_noise("mtcnn") == (0.4, 0.5) == (Degradation().jitter_px, Degradation().shift_px)
    assert landmark_noise("yunet:/models/face_detection_yunet.onnx") == (0.8, 1.2)
    assert landmark_noise("some-other-detector") == landmark_noise("mtcnn")


def test_training_pair_is_low_res_input_and_aligned_target() -> None:
    image, lm = _face_image(180)
    lr, hr = training_pair(image, lm, np.random.default_rng(1))
    assert lr.shape == (28, 28, 3) and hr.shape == (112, 112, 3) and hr.dtype == np.uint8
