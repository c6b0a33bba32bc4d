"""Reading, converting and caching the MTCNN weights bundled in the `mtcnn` package."""

from __future__ import annotations

import io
import logging
import os
import pickle
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
import torch

from core.vision.detect import mtcnn_weights
from core.vision.detect.mtcnn_nets import ONet, PNet, RNet
from core.vision.detect.mtcnn_weights import (
    cache_path, keras_to_state_dict, load_mtcnn_weights, read_keras_weights, weight_files,
)
from core.errors import ModelFileError, ModelPackageMissingError

# Keras get_weights() shapes of the bundled files, in order.
EXPECTED_SHAPES = {
    "pnet": [
        (3, 3, 3, 10), (10,), (1, 1, 10),
        (3, 3, 10, 16), (16,), (1, 1, 16),
        (3, 3, 16, 32), (32,), (1, 1, 32),
        (1, 1, 32, 4), (4,), (1, 1, 32, 2), (2,),
    ],
    "rnet": [
        (3, 3, 3, 28), (28,), (1, 1, 28),
        (3, 3, 28, 48), (48,), (1, 1, 48),
        (2, 2, 48, 64), (64,), (1, 1, 64),
        (576, 128), (128,), (128,),
        (128, 4), (4,), (128, 2), (2,),
    ],
    "onet": [
        (3, 3, 3, 32), (32,), (1, 1, 32),
        (3, 3, 32, 64), (64,), (1, 1, 64),
        (3, 3, 64, 64), (64,), (1, 1, 64),
        (2, 2, 64, 128), (128,), (1, 1, 128),
        (1152, 256), (256,), (256,),
        (256, 4), (4,), (256, 10), (10,), (256, 2), (2,),
    ],
}  # fmt: skip


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ROLLCALL_CACHE_DIR", str(folder))
    return folder


def fresh_nets() -> dict[str, torch.nn.Module]:
    return {"pnet": PNet(), "rnet": RNet(), "onet": ONet()}


def write_lz4(path: Path, payload: bytes) -> Path:
    path.write_bytes(lz4.frame.compress(payload))
    return path


def decompressed(name: str) -> bytes:
    return lz4.frame.decompress(weight_files()[name].read_bytes())


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_bundled_files_read_as_float32_arrays(name: str) -> None:
    arrays = read_keras_weights(weight_files()[name])
    assert [a.shape for a in arrays] == EXPECTED_SHAPES[name]
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in arrays)


def test_reader_matches_what_joblib_writes(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")  # only to *write* a reference file
    arrays = [
        np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        np.full(5, 3.5, np.float32),
        np.zeros((1, 1, 7), np.float32),
    ]
    buffer = io.BytesIO()
    joblib.dump(arrays, buffer)
    path = write_lz4(tmp_path / "ref.lz4", buffer.getvalue())
    for got, want in zip(read_keras_weights(path), arrays, strict=True):
        np.testing.assert_array_equal(got, want)


def test_foreign_lz4_file_names_the_file(tmp_path: Path) -> None:
    path = write_lz4(tmp_path / "pnet.lz4", b"this is not a pickle at all")
    with pytest.raises(ModelFileError, match="pnet.lz4") as info:
        read_keras_weights(path)
    assert info.value.path == path


def test_file_that_is_not_lz4(tmp_path: Path) -> None:
    path = tmp_path / "rnet.lz4"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="not an lz4 frame"):
        read_keras_weights(path)


def test_truncated_lz4_frame(tmp_path: Path) -> None:
    raw = weight_files()["onet"].read_bytes()
    path = tmp_path / "onet.lz4"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="onet.lz4"):
        read_keras_weights(path)


def test_truncated_array_data(tmp_path: Path) -> None:
    data = decompressed("pnet")
    path = write_lz4(tmp_path / "pnet.lz4", data[:-100])  # cut inside the last arrays' raw bytes
    with pytest.raises(ModelFileError, match="truncated"):
        read_keras_weights(path)


class _Evil:
    """Pickles as a call of os.system: the classic malicious pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_forbidden_global_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_lz4(tmp_path / "pnet.lz4", pickle.dumps([_Evil(marker)], protocol=4))
    with pytest.raises(ModelFileError, match=r"pnet\.lz4.*(posix|os|nt)\.system"):
        read_keras_weights(path)
    assert not marker.exists()


def test_other_object_types_are_refused(tmp_path: Path) -> None:
    path = write_lz4(tmp_path / "pnet.lz4", pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(ModelFileError, match="list of arrays"):
        read_keras_weights(path)
    # A numpy scalar pickles as a call of numpy's internal `scalar` constructor: not allowed.
    path = write_lz4(tmp_path / "rnet.lz4", pickle.dumps([np.float32(1.0)], protocol=4))
    with pytest.raises(ModelFileError, match="rnet.lz4"):
        read_keras_weights(path)


def test_missing_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_distribution(name: str) -> None:
        raise mtcnn_weights.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mtcnn_weights.importlib.metadata, "distribution", no_distribution)
    monkeypatch.setattr(mtcnn_weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelPackageMissingError, match="pip install --force-reinstall mtcnn"):
        weight_files()


# --------------------------------------------------------------------------- converting


def test_conversion_follows_keras_layouts() -> None:
    files = weight_files()
    keras = read_keras_weights(files["rnet"])
    state = keras_to_state_dict(keras, RNet(), files["rnet"])
    np.testing.assert_array_equal(state["conv1.weight"].numpy(), keras[0].transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(state["prelu1.weight"].numpy(), keras[2].reshape(-1))
    np.testing.assert_array_equal(state["fc4.weight"].numpy(), keras[9].T)
    np.testing.assert_array_equal(state["prelu4.weight"].numpy(), keras[11])
    np.testing.assert_array_equal(state["fc5_2.bias"].numpy(), keras[15])


def test_weights_for_another_net_are_rejected() -> None:
    files = weight_files()
    with pytest.raises(ModelFileError, match="pnet.lz4"):
        keras_to_state_dict(read_keras_weights(files["pnet"]), RNet(), files["pnet"])
    onet_arrays = read_keras_weights(files["onet"])
    onet_arrays[12] = onet_arrays[12][:, :128]  # right count, one wrong shape
    with pytest.raises(ModelFileError, match=r"array 12 has shape \(1152, 128\)"):
        keras_to_state_dict(onet_arrays, ONet(), files["onet"])


# --------------------------------------------------------------------------- caching


def _count_conversions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = mtcnn_weights.read_keras_weights

    def counting(path: Path) -> list[np.ndarray]:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(mtcnn_weights, "read_keras_weights", counting)
    return calls


def test_cache_is_written_then_reused(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    calls = _count_conversions(monkeypatch)
    first = fresh_nets()
    load_mtcnn_weights(first)
    assert len(calls) == 3
    assert cache_path() == cache_dir / "mtcnn" / "mtcnn_v1.pt"
    assert cache_path().is_file()
    assert not list(cache_path().parent.glob("*.tmp"))

    second = fresh_nets()
    load_mtcnn_weights(second)
    assert len(calls) == 3  # loaded from the cache, nothing reconverted
    for name in first:
        for key, value in first[name].state_dict().items():
            torch.testing.assert_close(second[name].state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: b"",
        lambda raw: b"garbage" * 100,
        lambda raw: raw[: len(raw) // 2],
        lambda raw: raw[:100] + bytes(200) + raw[300:],
    ],
    ids=["empty", "garbage", "truncated", "overwritten"],
)
def test_damaged_cache_is_replaced(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage) -> None:
    load_mtcnn_weights(fresh_nets())
    good = cache_path().read_bytes()
    cache_path().write_bytes(damage(good))
    calls = _count_conversions(monkeypatch)
    with caplog.at_level(logging.WARNING, logger=mtcnn_weights.__name__):
        load_mtcnn_weights(fresh_nets())
    assert len(calls) == 3
    assert any("unusable" in r.getMessage() for r in caplog.records)
    load_mtcnn_weights(fresh_nets())  # the rewritten cache is good again
    assert len(calls) == 3


def test_stale_or_misfitting_cache_is_reconverted(monkeypatch: pytest.MonkeyPatch) -> None:
    load_mtcnn_weights(fresh_nets())
    payload = torch.load(cache_path(), weights_only=True)
    calls = _count_conversions(monkeypatch)

    stale = dict(payload, sources={name: "0" * 64 for name in payload["sources"]})
    torch.save(stale, cache_path())
    load_mtcnn_weights(fresh_nets())
    assert len(calls) == 3

    misfit = dict(payload)
    misfit["pnet"] = {k: torch.zeros(1) for k in payload["pnet"]}  # right keys, wrong shapes
    torch.save(misfit, cache_path())
    nets = fresh_nets()
    load_mtcnn_weights(nets)
    assert len(calls) == 6
    assert nets["pnet"].conv1.weight.shape == (10, 3, 3, 3)
    assert float(nets["pnet"].conv1.weight.detach().abs().sum()) > 0


def test_unwritable_cache_only_costs_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("ROLLCALL_CACHE_DIR", str(blocker))
    nets = fresh_nets()
    load_mtcnn_weights(nets)
    assert float(nets["onet"].fc6_2.weight.detach().abs().sum()) > 0
