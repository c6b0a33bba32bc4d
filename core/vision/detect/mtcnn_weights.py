"""MTCNN weights: find the files the `mtcnn` package ships, convert them, cache the result.

The package's code imports TensorFlow and is never imported; only its weight files are used. They are
pickles, so a restricted unpickler reads them instead of `joblib.load`. The converted tensors are cached
in `user_cache_dir()/mtcnn/` and rebuilt when stale or damaged.

Details: docs/MODELS.md#mtcnn-weights
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import logging
import os
import pickle
import struct
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lz4.frame
import numpy as np
import torch
from torch import nn

from core.digest import file_sha256
from core.errors import ModelFileError, ModelPackageMissingError
from core.paths import user_cache_dir

logger = logging.getLogger(__name__)

PACKAGE = "mtcnn"
WHAT = "MTCNN face detector weights"
NET_NAMES = ("pnet", "rnet", "onet")
_WEIGHTS_SUBDIR = ("mtcnn", "assets", "weights")

CACHE_FORMAT = 1
CACHE_FILE_NAME = f"mtcnn_v{CACHE_FORMAT}.pt"

# The real files decompress to < 2 MB; refuse anything absurd instead of filling memory.
_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
_REINSTALL = f"Reinstall the '{PACKAGE}' package: pip install --force-reinstall {PACKAGE}"


# --------------------------------------------------------------------------- locating


def weights_dir() -> Path:
    """The folder holding pnet.lz4, rnet.lz4 and onet.lz4, found without importing `mtcnn`.

    All lookups live here so that a frozen (PyInstaller) build has one place to
    adapt: it may lack the distribution metadata, so the bundle folder and the
    import system's search path are tried as well. `find_spec` of a top-level
    package only locates it; it does not execute its `__init__` (which would
    import TensorFlow).
    """
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(PACKAGE)
        candidates.append(Path(str(dist.locate_file(Path(*_WEIGHTS_SUBDIR)))))
    except importlib.metadata.PackageNotFoundError:
        logger.debug("no distribution metadata for %s", PACKAGE)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle, *_WEIGHTS_SUBDIR))
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(Path(loc, *_WEIGHTS_SUBDIR[1:]) for loc in spec.submodule_search_locations)
    for folder in candidates:
        if all((folder / f"{name}.lz4").is_file() for name in NET_NAMES):
            return folder
    raise ModelPackageMissingError(PACKAGE, WHAT)


def weight_files() -> dict[str, Path]:
    """Net name -> path of its .lz4 weight file."""
    folder = weights_dir()
    return {name: folder / f"{name}.lz4" for name in NET_NAMES}


# --------------------------------------------------------------------------- reading


class _NDArrayClass:
    """Stands in for `numpy.ndarray`, which the pickle names only as the wrapper's `subclass`."""


class _DTypeSpec:
    """Stands in for `numpy.dtype`: records the name and byte order; we build the dtype ourselves."""

    def __init__(self, name: object, align: object = False, copy: object = False) -> None:
        self.name = name
        self.state: object = None

    def to_numpy(self, path: Path) -> np.dtype:
        # State of numpy's dtype pickle: (version, byteorder, subarray, names, fields, ...).
        order = self.state[1] if isinstance(self.state, tuple) and len(self.state) > 1 else None
        if self.name not in ("f2", "f4", "f8") or order not in ("<", ">", "="):
            raise ModelFileError(path, f"it holds arrays of type {self.name!r} {order!r}, not floats", _REINSTALL)
        return np.dtype(f"{order}{self.name}")


class _ArrayWrapper:
    """Stands in for `joblib.numpy_pickle.NumpyArrayWrapper`: the header of one raw array."""


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapper,
    ("numpy", "ndarray"): _NDArrayClass,
    ("numpy", "dtype"): _DTypeSpec,
}


class _WeightUnpickler(pickle._Unpickler):  # the pure-Python one: its dispatch table can be extended
    """Reads a joblib pickle of plain float arrays and nothing else.

    `find_class` hands out inert stand-ins for the three allowed globals and
    refuses every other one, so no code named by the file ever runs. joblib
    writes each array's bytes straight into the stream after the BUILD opcode
    of its wrapper; our BUILD handler reads them from the underlying file.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: io.BytesIO, path: Path) -> None:
        super().__init__(file)
        self._raw = file
        self._path = path

    def find_class(self, module: str, name: str) -> object:
        stand_in = _ALLOWED_GLOBALS.get((module, name))
        if stand_in is None:
            raise ModelFileError(
                self._path,
                f"it refers to the Python object {module}.{name}, which a weight file must not",
                _REINSTALL,
            )
        return stand_in

    def _load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, _DTypeSpec):
            inst.state = state
        elif isinstance(inst, _ArrayWrapper):
            self.stack[-1] = self._read_array(state)
        else:
            raise ModelFileError(self._path, f"it sets the state of a {type(inst).__name__}", _REINSTALL)

    dispatch[pickle.BUILD[0]] = _load_build

    def _read_array(self, state: object) -> np.ndarray:
        if not isinstance(state, dict):
            raise ModelFileError(self._path, "an array header is not a dict", _REINSTALL)
        shape, order, spec = state.get("shape"), state.get("order"), state.get("dtype")
        if (
            state.get("subclass") is not _NDArrayClass
            or not isinstance(shape, tuple)
            or not all(isinstance(n, int) and n >= 0 for n in shape)
            or order not in ("C", "F")
            or not isinstance(spec, _DTypeSpec)
        ):
            raise ModelFileError(self._path, "an array header is not a plain numpy array's", _REINSTALL)
        dtype = spec.to_numpy(self._path)
        if state.get("numpy_array_alignment_bytes") is not None:
            pad = self._raw.read(1)
            if len(pad) != 1 or len(self._raw.read(pad[0])) != pad[0]:
                raise ModelFileError(self._path, "it is truncated (inside array padding)", _REINSTALL)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        data = self._raw.read(nbytes)
        if len(data) != nbytes:
            raise ModelFileError(self._path, f"it is truncated (array of shape {shape})", _REINSTALL)
        array = np.frombuffer(data, dtype=dtype).reshape(shape, order=order)
        return array.astype(np.float32)


# Errors the pure-Python unpickler raises on malformed input (unknown opcode -> KeyError,
# stack underflow -> IndexError, stand-ins called with wrong arguments -> TypeError...).
_MALFORMED_PICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    struct.error,
    UnicodeDecodeError,
)


def read_keras_weights(path: Path) -> list[np.ndarray]:
    """The float32 arrays stored in one MTCNN .lz4 file, in Keras `get_weights()` order."""
    path = Path(path)
    try:
        compressed = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelPackageMissingError(PACKAGE, WHAT) from exc
    except OSError as exc:
        raise ModelFileError(path, f"it cannot be read ({exc.strerror})", _REINSTALL) from exc
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        data = decompressor.decompress(compressed, max_length=_MAX_DECOMPRESSED_BYTES)
    except RuntimeError as exc:  # what python-lz4 raises for anything that is not a valid frame
        raise ModelFileError(path, f"it is not an lz4 frame ({exc})", _REINSTALL) from exc
    if not decompressor.eof:
        raise ModelFileError(path, "its lz4 frame is truncated or too large", _REINSTALL)
    try:
        result = _WeightUnpickler(io.BytesIO(data), path).load()
    except _MALFORMED_PICKLE_ERRORS as exc:
        problem = f"it is not a valid weight pickle ({type(exc).__name__}: {exc})"
        raise ModelFileError(path, problem, _REINSTALL) from exc
    if not isinstance(result, list) or not all(isinstance(a, np.ndarray) for a in result):
        raise ModelFileError(path, "it does not hold a list of arrays", _REINSTALL)
    return result


# --------------------------------------------------------------------------- converting


def _keras_layout(module: nn.Module, param: str, torch_shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """The Keras shapes that may hold `module.<param>` (PReLU alphas come in two layouts)."""
    if param == "bias":
        return (torch_shape,)
    if isinstance(module, nn.Conv2d):
        out_c, in_c, kh, kw = torch_shape
        return ((kh, kw, in_c, out_c),)
    if isinstance(module, nn.Linear):
        return ((torch_shape[1], torch_shape[0]),)
    if isinstance(module, nn.PReLU):
        return ((1, 1, torch_shape[0]), torch_shape)
    raise TypeError(f"no Keras layout for {type(module).__name__}.{param}")


def _to_torch_layout(module: nn.Module, param: str, array: np.ndarray) -> np.ndarray:
    if param == "weight" and isinstance(module, nn.Conv2d):
        return array.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    if param == "weight" and isinstance(module, nn.Linear):
        return array.T  # (in, out) -> (out, in)
    return array.reshape(-1)  # biases; PReLU alpha (1, 1, C) shared over H, W -> (C,)


def keras_to_state_dict(arrays: list[np.ndarray], net: nn.Module, path: Path) -> dict[str, torch.Tensor]:
    """Map a Keras weight list onto `net`'s parameters.

    The networks register their layers in the Keras layer order, so the
    parameters, in registration order, pair one to one with `get_weights()`.
    Every array's shape is checked, so a file for another architecture fails
    here, naming the file, rather than producing a detector that finds nothing.
    """
    params = [
        (f"{mod_name}.{p_name}", module, p_name, tuple(p.shape))
        for mod_name, module in net.named_modules()
        for p_name, p in module.named_parameters(recurse=False)
    ]
    if len(params) != len(arrays):
        raise ModelFileError(
            path, f"it holds {len(arrays)} arrays, the {type(net).__name__} needs {len(params)}", _REINSTALL
        )
    state: dict[str, torch.Tensor] = {}
    for index, ((key, module, p_name, torch_shape), array) in enumerate(zip(params, arrays, strict=True)):
        expected = _keras_layout(module, p_name, torch_shape)
        if array.shape not in expected:
            raise ModelFileError(
                path, f"array {index} has shape {array.shape}, {key} needs {expected[0]}", _REINSTALL
            )
        converted = np.ascontiguousarray(_to_torch_layout(module, p_name, array), dtype=np.float32)
        state[key] = torch.from_numpy(converted.reshape(torch_shape))
    return state


# --------------------------------------------------------------------------- caching


def cache_path() -> Path:
    return user_cache_dir() / "mtcnn" / CACHE_FILE_NAME


def _sha256(path: Path) -> str:
    try:
        return file_sha256(path)
    except FileNotFoundError as exc:
        raise ModelPackageMissingError(PACKAGE, WHAT) from exc
    except OSError as exc:
        raise ModelFileError(path, f"it cannot be read ({exc.strerror})", _REINSTALL) from exc


# What torch.load raises for a damaged, truncated or foreign file.
_BAD_CACHE_ERRORS = (
    OSError,
    RuntimeError,
    ValueError,
    EOFError,
    pickle.UnpicklingError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    struct.error,
)


def _load_cache(path: Path, sources: dict[str, str], nets: Mapping[str, nn.Module]) -> bool:
    """Load the cached tensors into `nets`; False (after a warning) when the cache is unusable."""
    if not path.is_file():
        return False
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(cached, dict) or cached.get("format") != CACHE_FORMAT:
            raise ValueError("unknown cache format")
        if cached.get("sources") != sources:
            logger.warning("MTCNN weight cache %s is stale (the mtcnn package's files changed); reconverting", path)
            return False
        for name, net in nets.items():
            net.load_state_dict(cached[name], strict=True)  # shapes and names must match exactly
    except _BAD_CACHE_ERRORS as exc:
        logger.warning("MTCNN weight cache %s is unusable (%s: %s); reconverting", path, type(exc).__name__, exc)
        return False
    return True


def _save_cache(path: Path, sources: dict[str, str], nets: Mapping[str, nn.Module]) -> None:
    """Write the cache atomically (temp file + os.replace), so readers never see half a file."""
    payload: dict[str, Any] = {"format": CACHE_FORMAT, "sources": sources}
    payload.update({name: net.state_dict() for name, net in nets.items()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(payload, handle)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:  # a read-only or full cache folder only costs conversion time
        logger.warning("cannot write MTCNN weight cache %s: %s", path, exc)


def load_mtcnn_weights(nets: Mapping[str, nn.Module]) -> None:
    """Fill the networks {"pnet": ..., "rnet": ..., "onet": ...} with the bundled weights.

    From the cache when it matches the installed files, otherwise by converting
    them (and then rewriting the cache).
    """
    if set(nets) != set(NET_NAMES):
        raise ValueError(f"need exactly the nets {NET_NAMES}, got {sorted(nets)}")
    files = weight_files()
    sources = {name: _sha256(path) for name, path in files.items()}
    target = cache_path()
    if _load_cache(target, sources, nets):
        logger.debug("MTCNN weights loaded from cache %s", target)
        return
    for name, net in nets.items():
        state = keras_to_state_dict(read_keras_weights(files[name]), net, files[name])
        net.load_state_dict(state, strict=True)
    logger.info("converted MTCNN weights from %s", files["pnet"].parent)
    _save_cache(target, sources, nets)
