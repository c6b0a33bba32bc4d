"""Every accepted model-file format loads to the same model; every bad file is a clear error."""

from __future__ import annotations

import pathlib
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ArchitectureMismatchError, ModelFileError, UnsafeModelFileError
from core.vision.models.checkpoint import make_checkpoint, save_atomic
from core.vision.models.dlib_resnet import DlibResNet, bundled_weights_path
from core.vision.models.edgeface import EdgeFace
from core.vision.models.loading import load_embedder, load_model
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def reference() -> EdgeFace:
    torch.manual_seed(0)
    model = EdgeFace.variant("xs_gamma_06").eval()
    with torch.no_grad():  # non-trivial layer scales so that every block matters
        for name, p in model.named_parameters():
            if name.endswith("gamma") or name.endswith("gamma_xca"):
                p.fill_(0.5)
    return model


@pytest.fixture(scope="module")
def probe() -> torch.Tensor:
    return torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(1))


def _same_output(model: torch.nn.Module, reference: torch.nn.Module, probe: torch.Tensor) -> bool:
    with torch.no_grad():
        return torch.allclose(model(probe), reference(probe), atol=1e-5)


WRAPPERS = {
    "plain": lambda sd: sd,
    "model_prefix": lambda sd: {f"model.{k}": v for k, v in sd.items()},
    "module_prefix": lambda sd: {f"module.{k}": v for k, v in sd.items()},
    "nested_state_dict": lambda sd: {"state_dict": sd, "epoch": 3},
    "nested_model": lambda sd: {"model": {f"model.{k}": v for k, v in sd.items()}, "optimizer": {}},
    "nested_backbone": lambda sd: {"backbone_state_dict": sd, "head_state_dict": {}},
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_state_dict_formats_round_trip(tmp_path: Path, reference, probe, wrapper: str) -> None:
    path = tmp_path / f"{wrapper}.pt"
    torch.save(WRAPPERS[wrapper](reference.state_dict()), path)
    model = load_model(path)
    assert isinstance(model, EdgeFace) and model.arch_args() == reference.arch_args()
    assert _same_output(model, reference, probe)


def test_rollcall_checkpoint_round_trips(tmp_path: Path, reference, probe) -> None:
    path = save_atomic(make_checkpoint(reference, step=7, metrics={"val_sim": 0.9}), tmp_path / "best.pt")
    assert not list(tmp_path.glob("*.tmp"))
    assert _same_output(load_model(path), reference, probe)


def test_torchscript_archive_is_read_for_its_weights(tmp_path: Path, reference, probe) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.trace(reference, probe[:1]).save(str(path))
    model = load_model(path)
    assert type(model) is EdgeFace  # our module, not the scripted one
    assert _same_output(model, reference, probe)


def test_int8_edgeface_is_dequantised() -> None:
    model = load_model(shared_path("models", "edgeface_xxs_q.pt"))
    assert model.arch_args()["dims"] == (24, 48, 88, 168)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_dlib_dat_and_its_state_dict(tmp_path: Path, dlib_model, probe) -> None:
    assert isinstance(load_model(bundled_weights_path()), DlibResNet)
    path = tmp_path / "dlib_state.pt"
    torch.save(dlib_model.state_dict(), path)
    x = torch.randn(1, 3, 150, 150)
    assert _same_output(load_model(path), dlib_model, x)


def test_default_embedder_by_name() -> None:
    embedder = load_embedder("dlib")
    assert embedder.dim == 128 and embedder.arch == "dlib_resnet"


# --- bad files --------------------------------------------------------------------------------


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    empty = tmp_path / "empty.pt"
    empty.touch()
    with pytest.raises(ModelFileError, match="empty") as err:
        load_model(empty)
    assert str(empty) in str(err.value)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.999])
def test_truncated_file(tmp_path: Path, reference, fraction: float) -> None:
    full = tmp_path / "full.pt"
    torch.save(reference.state_dict(), full)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * fraction)])
    with pytest.raises(ModelFileError, match="truncated or corrupt") as err:
        load_model(cut)
    assert str(cut) in str(err.value)


@pytest.mark.parametrize(
    "content",
    [b"\xff\xd8\xff\xe0 a jpeg, not a model" * 10, b"hello world\n" * 100, b"\x80\x02}q\x00."],
    ids=["jpeg", "text", "empty-pickle"],
)
def test_foreign_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_random_bytes_always_give_a_model_file_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(1234)
    path = tmp_path / "junk.pt"
    for size in (1, 7, 64, 4096) * 40:
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        if rng.random() < 0.5:  # half of them look like the start of a pickle
            data = b"\x80\x02" + data
        path.write_bytes(data)
        with pytest.raises(ModelFileError):
            load_model(path)


def test_yunet_onnx_is_not_an_embedder() -> None:
    with pytest.raises(ModelFileError):
        load_model(shared_path("models", "face_detection_yunet_2023mar.onnx"))


class _Payload:
    """Pickles to a call that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_files_needing_arbitrary_unpickling_are_refused_without_running_code(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": _Payload(marker)}, path)
    with pytest.raises(UnsafeModelFileError, match="refuses"):
        load_model(path)
    assert not marker.exists()


def test_a_whole_pickled_module_is_refused(tmp_path: Path, reference) -> None:
    path = tmp_path / "whole_model.pt"
    torch.save(reference, path)
    with pytest.raises(UnsafeModelFileError, match="state_dict"):
        load_model(path)


def test_missing_keys_are_named(tmp_path: Path, reference) -> None:
    sd = dict(reference.state_dict())
    del sd["stages.1.blocks.2.pos_embd.token_projection.bias"]
    path = tmp_path / "missing.pt"
    torch.save(sd, path)
    with pytest.raises(ArchitectureMismatchError, match="stages.1.blocks.2.pos_embd.token_projection.bias"):
        load_model(path)


def test_unexpected_keys_are_named(tmp_path: Path, reference) -> None:
    sd = dict(reference.state_dict())
    sd["head.extra.weight"] = torch.zeros(3)
    path = tmp_path / "extra.pt"
    torch.save(sd, path)
    with pytest.raises(ArchitectureMismatchError, match="unexpected: head.extra.weight"):
        load_model(path)


def test_checkpoint_with_wrong_shapes(tmp_path: Path, reference) -> None:
    ckpt = make_checkpoint(reference)
    ckpt["arch_args"] = EdgeFace.variant("xxs").arch_args()
    path = save_atomic(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(ArchitectureMismatchError, match="wrong shape"):
        load_model(path)


def test_nan_weights_are_refused(tmp_path: Path, reference) -> None:
    sd = {k: v.clone() for k, v in reference.state_dict().items()}
    sd["head.norm.weight"][0] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(sd, path)
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(path)


def test_unknown_architecture(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), path)
    with pytest.raises(ModelFileError, match="match no face-embedding architecture"):
        load_model(path)
