"""The DSR super-resolution family: shapes, size, checkpoints through core's loader, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.vision.align import ARCFACE_TEMPLATE
from core.errors import ArchitectureMismatchError, InvalidImageError, ModelFileError
from core.vision.models.checkpoint import make_checkpoint, save_atomic
from core.vision.models.dlib_resnet import DlibResNet
from core.vision.models.dsr import DSRNet, count_parameters
from core.vision.models.loading import load_model, load_resolver, load_super_resolver
from core.vision.models.registry import build_model
from core.vision.models.superres import BicubicResolver, SuperResolver


@pytest.fixture(scope="module")
def trained_like() -> DSRNet:
    """A DSR whose every layer matters (the tail is zero at initialisation)."""
    torch.manual_seed(0)
    model = DSRNet(channels=8, blocks=2, up_channels=4).eval()
    with torch.no_grad():
        model.tail.weight.normal_(0, 0.1)
    return model


def test_shapes_spec_and_size() -> None:
    model = DSRNet().eval()
    assert model.input_spec.size == 28 and model.output_spec.size == 112
    assert model.output_spec.template == ARCFACE_TEMPLATE
    assert np.allclose(model.input_spec.template.array(), ARCFACE_TEMPLATE.array() / 4)
    with torch.no_grad():
        assert model(torch.zeros(3, 3, 28, 28)).shape == (3, 3, 112, 112)
    assert 100_000 < count_parameters(model) < 400_000  # 214,035 with the defaults
    assert build_model("dsr", model.arch_args()).arch_args() == model.arch_args()


def test_untrained_dsr_is_bicubic() -> None:
    x = torch.rand(1, 3, 28, 28) * 2 - 1
    with torch.no_grad():
        y = DSRNet().eval()(x)
    assert torch.allclose(y, torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic"), atol=1e-6)


def test_checkpoint_round_trip(tmp_path: Path, trained_like: DSRNet) -> None:
    path = save_atomic(make_checkpoint(trained_like, step=5), tmp_path / "dsr.pt")
    loaded = load_super_resolver(path)
    assert isinstance(loaded, DSRNet) and loaded.arch_args() == trained_like.arch_args()
    probe = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(loaded(probe), trained_like(probe), atol=1e-6)
    resolver = load_resolver(path)
    assert isinstance(resolver, SuperResolver)
    crops = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    out = resolver.upscale(crops)
    assert out.shape == (2, 112, 112, 3) and out.dtype == np.uint8
    with pytest.raises(ModelFileError, match="super-resolution"):
        load_model(path)  # a DSR is not a face embedder


def test_resolvers_share_an_interface() -> None:
    crops = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 3), dtype=np.uint8)
    bicubic = load_resolver("none")
    assert isinstance(bicubic, BicubicResolver)
    untrained = SuperResolver(DSRNet(), name="untrained")
    a, b = bicubic.upscale(crops), untrained.upscale(crops)
    assert a.shape == b.shape == (3, 112, 112, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0  # both bicubic (cv2 vs torch)
    assert untrained.upscale(crops[:0]).shape == (0, 112, 112, 3)
    for resolver in (bicubic, untrained):
        with pytest.raises(InvalidImageError):
            resolver.upscale(np.zeros((1, 32, 32, 3), np.uint8))


def test_wrong_files_are_clear_errors(tmp_path: Path, trained_like: DSRNet) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_super_resolver(empty)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_resolver(tmp_path / "missing.pt")
    bare = tmp_path / "bare.pt"
    torch.save(trained_like.state_dict(), bare)
    with pytest.raises(ModelFileError, match="not a Rollcall checkpoint"):
        load_super_resolver(bare)
    embedder = save_atomic(make_checkpoint(DlibResNet()), tmp_path / "embedder.pt")
    with pytest.raises(ModelFileError, match="not a face super-resolution model"):
        load_super_resolver(embedder)
    ckpt = make_checkpoint(trained_like)
    ckpt["arch_args"] = {"channels": 16, "blocks": 2, "up_channels": 4}
    with pytest.raises(ArchitectureMismatchError, match="wrong shape"):
        load_super_resolver(save_atomic(ckpt, tmp_path / "mismatch.pt"))
