"""Hostile and damaged model files, made at test time: each is refused with a ModelFileError that names the
file and says what to do, quickly, without building anything large and without running the file's code."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
import torch
from torch import nn

from core.errors import DamagedModelError, ModelFileError, RollcallError
from core.gallery.lifecycle import evaluate_candidate, promote
from core.gallery.store import Gallery
from core.service import Rollcall
from core.storage.db import Database
from core.vision.models.base import Embedder
from core.vision.models.checkpoint import make_checkpoint, save_atomic
from core.vision.models.dsr import DSRNet
from core.vision.models.edgeface import EdgeFace
from core.vision.models.loading import load_embedder, load_model, load_resolver, load_super_resolver
from core.vision.models.sanity import probe_embedder
from core.vision.models.torchscript import torchscript_tensors
from tests.conftest import shared_path
from tests.core.gallery_fixtures import tiny_embedder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_edgeface(seed: int = 0) -> EdgeFace:
    torch.manual_seed(seed)
    return EdgeFace(dims=(8, 16, 24, 32), depths=(1, 1, 1, 1), heads=(2, 2, 2, 2), embedding_dim=32).eval()


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def _refused(path: Path, match: str, kind: type[ModelFileError] = ModelFileError,
             loader=load_model) -> ModelFileError:
    with pytest.raises(kind, match=match) as info:
        loader(path)
    assert str(path) in str(info.value)  # the message names the file
    return info.value


# ---------------------------------------------------------------- blank weights: the probe before activation

def _blank(path: Path, bias: float | None = None) -> Path:
    model = tiny_edgeface()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        if bias is not None:
            model.head.fc.bias.fill_(bias)  # every face gets this same embedding
    return save_atomic(make_checkpoint(model), path)


@pytest.mark.parametrize("bias", [None, 0.5], ids=["all-zero", "constant"])
def test_blank_weights_load_but_are_refused_before_activation(tmp_path: Path, bias) -> None:
    path = _blank(tmp_path / "blank.pt", bias)
    embedder = load_embedder(path)  # numbers that load: only running the model shows it is dead
    with pytest.raises(DamagedModelError, match="the same embedding.* for different faces.*blank or damaged"):
        probe_embedder(embedder)
    with Rollcall.open(tmp_path / "rollcall.db") as service:
        before = service.gallery.active_model()
        with pytest.raises(DamagedModelError, match=str(path).replace("\\", "\\\\")):
            service.activate_model(str(path))
        with pytest.raises(DamagedModelError):
            service.promote(embedder)
        assert service.gallery.active_model() == before
        assert not any(m.source == str(path) for m in service.gallery.models())


def test_lifecycle_refuses_a_blank_candidate_and_switches_nothing(tmp_path: Path) -> None:
    blank = load_embedder(_blank(tmp_path / "blank.pt", 0.5))
    with Database(tmp_path / "g.db") as db:
        gallery = Gallery(db)
        active = gallery.activate_model(tiny_embedder(0))
        for call in (evaluate_candidate, promote):
            with pytest.raises(DamagedModelError, match="same embedding"):
                call(gallery, blank)
        assert gallery.active_model() == active and gallery.previous_model() is None


def test_real_and_freshly_initialised_models_pass_the_probe(dlib_model) -> None:
    probe_embedder(Embedder(dlib_model, name="dlib"))
    probe_embedder(tiny_embedder(0))
    probe_embedder(Embedder(tiny_edgeface(3), name="tiny"))


def test_the_quantised_edgeface_passes_the_probe() -> None:
    path = shared_path("models", "edgeface_xxs_q.pt")
    probe_embedder(load_embedder(path))


# ---------------------------------------------------------------- bit flips and casts

def _flip_bit(tensor: torch.Tensor, index: int, bit: int) -> torch.Tensor:
    flipped = tensor.detach().clone().contiguous()
    ints = flipped.view(torch.int32).view(-1)
    ints[index] ^= 1 << bit
    return flipped


def test_a_flipped_exponent_bit_making_infinity_is_refused(tmp_path: Path) -> None:
    sd = dict(tiny_edgeface().state_dict())
    assert float(sd["stem.1.weight"][0]) == 1.0  # LayerNorm scale: exponent 127, one flip away from 255
    sd["stem.1.weight"] = _flip_bit(sd["stem.1.weight"], 0, 30)
    _refused(_save(sd, tmp_path / "inf.pt"), "stem.1.weight.*NaN or infinite", DamagedModelError)


def test_a_flipped_exponent_bit_making_an_absurd_weight_is_refused(tmp_path: Path) -> None:
    sd = dict(tiny_edgeface().state_dict())
    key = "head.fc.weight"
    small = int(torch.nonzero(sd[key].view(-1).abs() > 1e-3)[0])
    sd[key] = _flip_bit(sd[key], small, 30)
    assert torch.isfinite(sd[key]).all() and float(sd[key].abs().max()) > 1e30
    err = _refused(_save(sd, tmp_path / "flipped.pt"), f"{key}.*magnitude", DamagedModelError)
    assert "download" in str(err)  # says how to fix it


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_weights_cast_to_integers_are_refused(tmp_path: Path, dtype: torch.dtype) -> None:
    sd = {k: v.to(dtype) for k, v in tiny_edgeface().state_dict().items()}
    _refused(_save(sd, tmp_path / "cast.pt"), f"stored as {dtype}.*floating-point", DamagedModelError)


def test_half_precision_weights_still_load(tmp_path: Path) -> None:
    model = tiny_edgeface()
    sd = {k: v.half() for k, v in model.state_dict().items()}
    assert load_model(_save(sd, tmp_path / "half.pt")).arch_args() == model.arch_args()


# ---------------------------------------------------------------- architecture arguments, checked before building

def _dsr_checkpoint(path: Path, **arch_args: object) -> Path:
    ckpt = make_checkpoint(DSRNet(channels=4, blocks=0, up_channels=4))
    ckpt["arch_args"] = {**ckpt["arch_args"], **arch_args}
    return save_atomic(ckpt, path)


@pytest.mark.parametrize("args, match", [
    ({"blocks": 1e9}, "blocks must be a whole number"),
    ({"blocks": 10**9}, "blocks must be between 0 and 64"),
    ({"channels": 30000}, "channels must be between 1 and 256"),
    ({"up_channels": -1}, "up_channels must be between 1 and 128"),
    ({"channels": True}, "channels must be a whole number"),
    ({"channels": "32"}, "channels must be a whole number"),
    ({"depth": 3}, "unknown argument"),
])
def test_dsr_arguments_out_of_range_are_refused_before_building(tmp_path: Path, args: dict, match: str) -> None:
    path = _dsr_checkpoint(tmp_path / "dsr.pt", **args)
    err = _refused(path, match, loader=load_super_resolver)
    assert "architecture description is invalid" in str(err)
    with pytest.raises(ModelFileError, match=match):
        load_resolver(str(path))


@pytest.mark.parametrize("arch_args", [[1, 2], "channels=4", 7])
def test_dsr_arguments_that_are_not_a_mapping(tmp_path: Path, arch_args: object) -> None:
    ckpt = make_checkpoint(DSRNet(channels=4, blocks=0, up_channels=4))
    ckpt["arch_args"] = arch_args
    _refused(save_atomic(ckpt, tmp_path / "dsr.pt"), "must be a mapping", loader=load_super_resolver)


@pytest.mark.parametrize("change, match", [
    ({"dims": (100000, 16, 24, 32)}, "dims must be whole numbers between 1 and 1024"),
    ({"depths": (1, 1, 10**6, 1)}, "depths must be whole numbers"),
    ({"depths": (1, 1)}, "depths must list 4"),
    ({"dims": (1024,) * 4, "depths": (16,) * 4, "expand_ratio": 8}, "M parameters, more than"),
    ({"embedding_dim": 2.5}, "embedding_dim must be whole numbers"),
    ({"rank_ratio": 7.0}, "rank_ratio must be none or a number in"),
    ({"pos_emb": (1, 0, 0, 0)}, "pos_emb must list 4 true/false"),
])
def test_edgeface_checkpoint_arguments_are_bounded(tmp_path: Path, change: dict, match: str) -> None:
    ckpt = make_checkpoint(tiny_edgeface())
    ckpt["arch_args"] = {**ckpt["arch_args"], **change}
    _refused(save_atomic(ckpt, tmp_path / "edge.pt"), match)


def test_a_tiny_file_claiming_huge_tensors_is_refused(tmp_path: Path) -> None:
    """An expanded view stores one value but has any shape: shapes must not outgrow the values stored."""
    sd = dict(tiny_edgeface().state_dict())
    sd["stem.0.weight"] = torch.zeros(1).expand(100000, 3, 4, 4)
    path = _save(sd, tmp_path / "expanded.pt")
    assert path.stat().st_size < 1_000_000
    _refused(path, r"stem.0.weight' claims a \(100000, 3, 4, 4\) shape")


# ---------------------------------------------------------------- malformed checkpoints and tensors

@pytest.mark.parametrize("arch", [["edgeface"], {"a": 1}, 3, None, ""])
def test_a_checkpoint_whose_arch_is_not_a_name(tmp_path: Path, arch: object) -> None:
    ckpt = make_checkpoint(tiny_edgeface())
    ckpt["arch"] = arch
    path = save_atomic(ckpt, tmp_path / "arch.pt")
    _refused(path, "'arch' must name an architecture")
    _refused(path, "'arch' must name an architecture", loader=load_super_resolver)


def test_meta_tensors_are_refused(tmp_path: Path) -> None:
    sd = {k: torch.empty_like(v, device="meta") for k, v in tiny_edgeface().state_dict().items()}
    _refused(_save(sd, tmp_path / "meta.pt"), "holds no values")


def test_sparse_tensors_are_refused(tmp_path: Path) -> None:
    sd = dict(tiny_edgeface().state_dict())
    sd["head.fc.weight"] = sd["head.fc.weight"].to_sparse()
    _refused(_save(sd, tmp_path / "sparse.pt"), "head.fc.weight' is a sparse tensor")


def test_weights_named_by_numbers_are_refused(tmp_path: Path) -> None:
    _refused(_save({1: torch.zeros(2), 2: torch.zeros(3)}, tmp_path / "numbers.pt"), "holds no model weights")
    ckpt = make_checkpoint(tiny_edgeface())
    ckpt["state_dict"] = {7: torch.zeros(2), **ckpt["state_dict"]}
    _refused(save_atomic(ckpt, tmp_path / "numbered.pt"), "a weight is named 7, not by a string")


# ---------------------------------------------------------------- TorchScript: tensors read, code never run

class _SelfChangingLinear(nn.Module):
    """A Linear whose archive state comes back through its own __setstate__, which overwrites the weight."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = nn.Parameter(linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.weight, self.bias)

    @torch.jit.export
    def __getstate__(self) -> Dict[str, torch.Tensor]:
        return {"weight": self.weight, "bias": self.bias}

    @torch.jit.export
    def __setstate__(self, state: Dict[str, torch.Tensor]) -> None:
        print("SETSTATE CODE RAN")
        self.weight = state["weight"]
        self.bias = state["bias"]
        self.weight.detach().fill_(42.0)
        self.training = False


def test_torchscript_code_is_never_run_while_loading(tmp_path: Path, capfd) -> None:
    model = tiny_edgeface()
    original = model.head.fc.weight.detach().clone()
    model.head.fc = torch.jit.script(_SelfChangingLinear(model.head.fc))
    path = tmp_path / "scripted.pt"
    torch.jit.trace(model, torch.randn(1, 3, 112, 112)).save(str(path))
    capfd.readouterr()
    loaded = load_model(path)
    assert type(loaded) is EdgeFace
    assert torch.equal(loaded.head.fc.weight, original)  # what the archive stores, not what its code makes
    assert "SETSTATE CODE RAN" not in capfd.readouterr().out
    torch.jit.load(str(path))  # the same archive run by torch.jit: the code runs and changes the weight
    assert "SETSTATE CODE RAN" in capfd.readouterr().out


class _OpaqueState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.t()

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
        print("SETSTATE CODE RAN")
        self.weight = state[0]
        self.training = state[1]


def test_torchscript_state_only_its_code_could_read_is_refused(tmp_path: Path, capfd) -> None:
    path = tmp_path / "opaque.pt"
    torch.jit.script(_OpaqueState()).save(str(path))
    capfd.readouterr()
    _refused(path, "keeps the state of its top module in its own format.*never runs that code")
    assert "SETSTATE CODE RAN" not in capfd.readouterr().out


def test_a_torchscript_archive_needing_other_objects_is_refused(tmp_path: Path) -> None:
    """data.pkl that asks for a global outside tensors and TorchScript's own classes."""
    import zipfile

    path = tmp_path / "evil_archive.pt"
    torch.jit.script(tiny_edgeface().head.fc).save(str(path))
    evil = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."
    rewritten = tmp_path / "rewritten.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rewritten, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, evil if item.filename.endswith("/data.pkl") else src.read(item))
    _refused(rewritten, r"objects Rollcall does not build \(os.system\)")
    with pytest.raises(RollcallError):
        torchscript_tensors(rewritten)
