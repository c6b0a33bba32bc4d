"""The DSR data helpers: split by subject, deterministic pairs, the differentiable warp to the embedder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.vision.align import ARCFACE_TEMPLATE, similarity_transform
from core.errors import ConfigError
from core.vision.models.dlib_resnet import INPUT_SPEC as DLIB_SPEC
from core.vision.models.edgeface import INPUT_SPEC as EDGEFACE_SPEC
from trainer.faces import EmbedderInput, Face, batch_at, make_pair, psnr, split_subjects, ssim, to_tensor


def test_split_is_by_subject_seeded_and_never_empty():
    names = [f"p{i}" for i in range(10)]
    train, val = split_subjects(names, 0.2, seed=3)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == names
    assert split_subjects(names, 0.2, seed=3) == (train, val)
    assert split_subjects(names, 0.2, seed=4) != (train, val)
    assert len(split_subjects(["a", "b"], 0.01, 0)[1]) == 1 and len(split_subjects(["a", "b"], 0.99, 0)[0]) == 1
    with pytest.raises(ConfigError, match="at least 2"):
        split_subjects(["alone"], 0.2, 0)


def _face() -> Face:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8), (0, 0), 2)
    return Face(image, ARCFACE_TEMPLATE.array(), "p", "mem")


def test_batches_are_a_function_of_the_step_and_cover_each_epoch_once():
    image = np.zeros((8, 8, 3), np.uint8)
    faces = [Face(image, ARCFACE_TEMPLATE.array(), f"p{i}", f"f{i}") for i in range(10)]
    batches = [batch_at(faces, step, 3, 4, seed=0) for step in range(6)]  # 3 steps an epoch: 4 + 4 + 2
    assert [b[0] for b in batches] == [0, 0, 0, 1, 1, 1] and [len(b[1]) for b in batches] == [4, 4, 2] * 2
    for epoch in (0, 1):
        assert sorted(f.source for b in batches[3 * epoch:3 * epoch + 3] for f in b[1]) == sorted(f.source for f in faces)
    assert [f.source for f in batches[0][1]] != [f.source for f in batches[3][1]]  # reshuffled each epoch
    again = batch_at(faces, 4, 3, 4, seed=0)  # as a resumed run draws it
    assert [f.source for f in again[1]] == [f.source for f in batches[4][1]]
    assert [r.random() for r in again[2]] == [r.random() for r in batch_at(faces, 4, 3, 4, seed=0)[2]]


def test_pairs_depend_only_on_the_generator_state():
    face = _face()
    lr1, hr1 = make_pair(face, np.random.default_rng([1, 2, 3]))
    lr2, hr2 = make_pair(face, np.random.default_rng([1, 2, 3]))
    assert lr1.shape == (28, 28, 3) and hr1.shape == (112, 112, 3)
    assert np.array_equal(lr1, lr2) and np.array_equal(hr1, hr2)
    assert not np.array_equal(lr1, make_pair(face, np.random.default_rng([1, 2, 4]))[0])


def test_embedder_input_matches_the_pipelines_warp_and_lets_gradients_through():
    crop = _face().image
    spec = DLIB_SPEC
    m = similarity_transform(ARCFACE_TEMPLATE.array(), spec.template.array(spec.size))
    expected = cv2.warpAffine(crop, m, (spec.size, spec.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)[..., ::-1].astype(np.float32)
    x = to_tensor(crop[None]).requires_grad_(True)
    out = EmbedderInput(spec)(x)
    pixels = (out * torch.tensor(spec.std).view(1, 3, 1, 1) + torch.tensor(spec.mean).view(1, 3, 1, 1))
    got = pixels[0].permute(1, 2, 0).detach().numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected)[4:-4, 4:-4].mean() < 1.0  # same warp up to interpolation rounding
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_embedder_input_is_a_plain_normalisation_for_arcface_layouts():
    warp = EmbedderInput(EDGEFACE_SPEC)
    assert warp.identity_warp
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    assert torch.allclose(warp(x), x, atol=1e-5)  # EdgeFace uses the same [-1, 1] scaling


def test_psnr_and_ssim_of_identical_and_different_images():
    a = to_tensor(_face().image[None])
    assert ssim(a, a).item() == pytest.approx(1.0, abs=1e-4)
    assert psnr(a, a).item() > 90
    noise = torch.randn(a.shape, generator=torch.Generator().manual_seed(0))
    noisy = (a + 0.1 * noise).clamp(-1, 1)
    assert 10 < psnr(noisy, a).item() < 40 and ssim(noisy, a).item() < 0.95


def test_a_mirrored_face_aligns_to_the_mirror_image_of_its_crop():
    from core.vision.align import align_face
    from trainer.faces import mirrored

    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8), (0, 0), 3)
    # the template's landmarks placed in a larger image, so the mirror moves them
    landmarks = ARCFACE_TEMPLATE.array() + [30.0, 20.0]
    face = Face(image, landmarks, "p", "mem")
    flipped = mirrored(face)
    crop = align_face(image, landmarks, ARCFACE_TEMPLATE, 112)
    crop_of_flipped = align_face(flipped.image, flipped.landmarks, ARCFACE_TEMPLATE, 112)
    # the template is not exactly symmetric, so allow a little resampling difference
    diff = np.abs(crop_of_flipped.astype(int) - crop[:, ::-1].astype(int))
    assert diff.mean() < 4.0
    assert flipped.landmarks[0, 0] < flipped.landmarks[1, 0]  # the left eye is still the left-hand point
    assert np.array_equal(mirrored(flipped).image, image)


def test_flip_prob_decides_whether_pairs_are_mirrored():
    face = _face()
    plain = make_pair(face, np.random.default_rng(5), flip_prob=0.0)
    always = make_pair(face, np.random.default_rng(5), flip_prob=1.0)
    assert not np.array_equal(plain[1], always[1])
    assert np.array_equal(always[1], make_pair(face, np.random.default_rng(5), flip_prob=1.0)[1])
