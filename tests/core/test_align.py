from __future__ import annotations

import numpy as np
import pytest

from core.vision.align import ARCFACE_TEMPLATE, AlignmentTemplate, align_face, similarity_transform
from core.vision.models.dlib_resnet import dlib_chip_template


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def test_similarity_transform_recovers_a_known_transform() -> None:
    src = ARCFACE_TEMPLATE.array()
    angle, scale, shift = np.radians(17.0), 2.3, np.array([40.0, -12.5])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(_apply(m, src), dst, atol=1e-9)
    assert np.isclose(np.hypot(m[0, 0], m[0, 1]), scale)


def test_similarity_transform_never_reflects() -> None:
    src = ARCFACE_TEMPLATE.array()
    mirrored = src * [-1, 1]
    m = similarity_transform(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_template_scales_to_any_size() -> None:
    t224 = ARCFACE_TEMPLATE.scaled(224)
    assert t224.size == 224
    assert np.allclose(t224.array(), ARCFACE_TEMPLATE.array() * 2)
    assert np.allclose(ARCFACE_TEMPLATE.array(56), ARCFACE_TEMPLATE.array() / 2)
    with pytest.raises(ValueError):
        AlignmentTemplate(((0, 0),) * 4, 112)


def _dot_image(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    img = np.zeros((*shape, 3), np.uint8)
    for i, (x, y) in enumerate(points):
        img[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 50 * (i + 1)
    return img


@pytest.mark.parametrize("scale", [0.4, 1.7, 6.0])  # 6x exercises the anti-aliased path
def test_align_face_puts_landmarks_on_the_template(scale: float) -> None:
    template = ARCFACE_TEMPLATE
    src = template.array() * scale + [30, 20]
    img = _dot_image(src, (int(130 * scale) + 60, int(130 * scale) + 60))
    crop = align_face(img, src, template, 112)
    assert crop.shape == (112, 112, 3)
    for i, (x, y) in enumerate(template.array(112)):
        patch = crop[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3, 0]
        assert patch.max() > 0, f"landmark {i} not found near its template position"


def test_align_face_output_size_is_independent_of_template_size() -> None:
    img = np.full((200, 200, 3), 128, np.uint8)
    crop = align_face(img, ARCFACE_TEMPLATE.array() + 40, ARCFACE_TEMPLATE, 150)
    assert crop.shape == (150, 150, 3)


def test_dlib_chip_template_follows_dlib_mean_face() -> None:
    """Eye centres, nose tip and mouth corners of dlib's mean face at 150 px with 0.25 padding:
    chip coordinate = (0.25 + p) / 1.5 * 150 = 100 * (0.25 + p)."""
    t = dlib_chip_template()
    pts = t.array()
    assert t.size == 150
    assert np.allclose(pts[2], [100 * (0.25 + 0.490127), 100 * (0.25 + 0.515625)])
    assert np.allclose(pts[3], [100 * (0.25 + 0.254149), 100 * (0.25 + 0.780233)])
    assert np.isclose(pts[0, 1], pts[1, 1])  # mean face is symmetric: eyes level
    assert np.isclose(pts[0, 0] + pts[1, 0], 2 * pts[2, 0], atol=0.05)  # nose on the midline
