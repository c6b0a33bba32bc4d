"""The tensors of a TorchScript archive, read without running any of its code.

`torch.jit.load` runs the archive's own code (a module's `__setstate__` runs while it loads), and
`torch.load(weights_only=True)` refuses such archives. An archive is a zip file: `data.pkl` pickles the
module tree, and `data/N` hold the raw bytes of the tensors. This module unpickles `data.pkl` with an
unpickler that knows only how to build tensors from those bytes; TorchScript's own classes become inert
stand-ins that record their state, and anything else is refused.

Rules: docs/MODELS.md#loading-a-model-file
"""

from __future__ import annotations

import pickle
import re
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from core.errors import ModelFileError, UnsafeModelFileError

MAX_PICKLE_BYTES = 64 * 1024**2  # data.pkl describes the module tree; the tensors are elsewhere
MAX_TENSOR_BYTES = 2 * 1024**3  # all the tensors together: far above any face model
MAX_DEPTH = 64  # nesting of sub-modules
STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
_KEY = re.compile(r"^[0-9]{1,9}$")
_REWRITE = "Re-save only the weights: torch.save(model.state_dict(), 'weights.pt')."


class _ScriptObject:
    """Stand-in for an instance of a class the archive defines: its state is kept, its code never runs."""

    def __setstate__(self, state: object) -> None:
        self.state = state


def _identity(value: object, *_: object) -> object:
    return value


def _rebuild_tensor(storage: object, offset: object, size: object, stride: object, *_: object) -> torch.Tensor:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without stored data")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
            and all(type(v) is int and v >= 0 for v in (offset, *size, *stride))):
        raise pickle.UnpicklingError("a tensor with an invalid layout")
    return torch.empty(0, dtype=storage.dtype).set_(storage.data, offset, size, stride)  # bounds-checked


class _Storage:
    def __init__(self, data: torch.UntypedStorage, dtype: torch.dtype) -> None:
        self.data, self.dtype = data, dtype


# (module, name) -> what the unpickler may build; everything else is refused
_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch.jit._pickle", "restore_type_tag"): _identity,
    **{("torch.jit._pickle", f"build_{kind}list"): _identity for kind in ("int", "double", "bool", "tensor")},
    **{("torch", name): dtype for name, dtype in STORAGE_DTYPES.items()},
}


class _ArchiveUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.zf, self.prefix = zf, prefix
        self.storages: dict[str, _Storage] = {}
        self.total = 0

    def find_class(self, module: str, name: str) -> object:
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptObject
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"Unsupported global {module}.{name}") from None

    def persistent_load(self, pid: object) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)
                and isinstance(pid[2], str) and _KEY.match(pid[2]) and type(pid[4]) is int and pid[4] >= 0):
            raise pickle.UnpicklingError("an unknown kind of stored data")
        key, dtype, numel = pid[2], pid[1], pid[4]
        if key in self.storages:
            return self.storages[key]
        try:
            info = self.zf.getinfo(f"{self.prefix}data/{key}")
        except KeyError:
            raise pickle.UnpicklingError(f"tensor data {key} is missing") from None
        nbytes = numel * torch.empty(0, dtype=dtype).element_size()
        self.total += info.file_size
        if info.file_size != nbytes or self.total > MAX_TENSOR_BYTES:
            raise pickle.UnpicklingError(f"tensor data {key} has the wrong size")
        raw = bytearray(self.zf.read(info))
        data = torch.frombuffer(raw, dtype=torch.uint8).untyped_storage() if raw else torch.UntypedStorage(0)
        self.storages[key] = _Storage(data, dtype)
        return self.storages[key]


def torchscript_tensors(path: Path) -> dict[str, object]:
    """The archive's tensors by their dotted attribute names (sub-module.attribute), as a state dict."""
    try:
        with zipfile.ZipFile(path) as zf:
            pkl = next((n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") <= 1), None)
            if pkl is None:
                raise ModelFileError(path, "the TorchScript archive has no data.pkl", "Export the model again.")
            info = zf.getinfo(pkl)
            if info.file_size > MAX_PICKLE_BYTES:
                raise ModelFileError(path, "the TorchScript archive's module description is implausibly large")
            if sys.byteorder != "little" or _byteorder(zf, pkl[: -len("data.pkl")]) not in ("", "little"):
                raise ModelFileError(path, "the TorchScript archive was written on a big-endian machine", _REWRITE)
            root = _ArchiveUnpickler(zf.read(info), zf, pkl[: -len("data.pkl")]).load()
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if text.startswith("Unsupported global"):
            raise UnsafeModelFileError(
                path, f"the TorchScript archive contains objects Rollcall does not build ({text[19:]})", _REWRITE,
            ) from None
        raise ModelFileError(path, f"the TorchScript archive is damaged ({text})", "Export the model again.") from None
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(path, f"the TorchScript archive cannot be read ({exc})",
                             "Copy or download the model file again.") from None
    except Exception as exc:  # noqa: BLE001 - a hostile pickle raises anything (TypeError, RuntimeError, ...)
        raise ModelFileError(path, f"the TorchScript archive is damaged ({type(exc).__name__}: {exc})"[:300],
                             "Export the model again.") from None
    out: dict[str, object] = {}
    _collect(root, "", out, path, 0)
    return out


def _byteorder(zf: zipfile.ZipFile, prefix: str) -> str:
    try:
        return zf.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
    except KeyError:
        return ""


def _collect(obj: object, prefix: str, out: dict[str, object], path: Path, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ModelFileError(path, f"the TorchScript archive nests modules more than {MAX_DEPTH} deep")
    state = getattr(obj, "state", None) if isinstance(obj, _ScriptObject) else None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        where = f"its part '{prefix[:-1]}'" if prefix else "its top module"
        raise ModelFileError(
            path, f"the TorchScript archive keeps the state of {where} in its own format, which only its code "
                  f"could read, and Rollcall never runs that code", _REWRITE,
        )
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            out[prefix + key] = value
        elif isinstance(value, _ScriptObject):
            _collect(value, f"{prefix}{key}.", out, path, depth + 1)
