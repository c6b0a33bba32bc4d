"""Fuzz cases for model files: tiny EdgeFace state dicts (plain, int8-quantised, TorchScript) and EdgeFace
and DSR checkpoints, damaged before saving (dtypes, shapes, values, names, arch and arch_args) or after
(bytes of the file, or of one entry of its zip with the zip kept valid), fed to load_model or
load_super_resolver; an embedder that loads is also probed."""

from __future__ import annotations

import copy
import io
import random
import warnings
from pathlib import Path

import torch

from bench.fuzz_cases import FuzzEnv, damage_zip_entry, hostile_text, hostile_value, mutate_bytes

DTYPES = (torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.float64, torch.bool, torch.complex64,
          torch.uint8, torch.int8)


def _bases() -> dict[str, object]:
    """The valid objects the cases damage: built from fixed seeds, small enough to load in milliseconds."""
    from core.vision.models.checkpoint import make_checkpoint
    from core.vision.models.dsr import DSRNet
    from core.vision.models.edgeface import EdgeFace

    torch.manual_seed(0)
    edge = EdgeFace(dims=(8, 16, 24, 32), depths=(1, 1, 1, 1), heads=(2, 2, 2, 2), embedding_dim=32).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantised = torch.ao.quantization.quantize_dynamic(copy.deepcopy(edge), {torch.nn.Linear}, dtype=torch.qint8)
        script = io.BytesIO()
        torch.jit.save(torch.jit.trace(edge, torch.zeros(1, 3, 112, 112)), script)
    return {
        "edgeface-sd": {f"model.{k}": v for k, v in edge.state_dict().items()},
        "edgeface-int8": quantised.state_dict(),
        "edgeface-ckpt": make_checkpoint(edge),
        "dsr-ckpt": make_checkpoint(DSRNet(channels=4, blocks=1, up_channels=4)),
        "edgeface-script": script.getvalue(),  # bytes: only byte and zip damage
    }


def _weights(obj: dict) -> dict:
    return obj["state_dict"] if isinstance(obj.get("state_dict"), dict) else obj


def damage_object(rng: random.Random, obj: dict) -> str:
    """One structural damage to a state dict or checkpoint, in place; says what it did."""
    sd = _weights(obj)
    keys = list(sd)
    key = rng.choice(keys)
    value = sd[key]
    how = rng.choice(("dtype", "dtype", "non-tensor", "drop", "add", "rename", "shape", "values", "strided",
                      "sparse", "meta", "quantised", "key-type", "nest", "arch", "arch_args", "arch_args",
                      "format", "state_dict"))
    tensor = value if isinstance(value, torch.Tensor) and not value.is_quantized else None
    if how == "dtype" and tensor is not None:
        dtype = rng.choice(DTYPES)
        sd[key] = tensor.to(dtype)
        return f"{key} as {dtype}"
    if how == "non-tensor":
        sd[key] = rng.choice((1, "x", None, [1, 2], {"a": torch.zeros(2)}, (torch.zeros(2), torch.zeros(2)), 1.5))
        return f"{key} not a tensor: {type(sd[key]).__name__}"
    if how == "drop":
        del sd[key]
        return f"{key} dropped"
    if how == "add":
        sd[hostile_text(rng, 60)] = torch.randn(rng.choice(((3,), (2, 2), (0,))))
        return "a key added"
    if how == "rename":
        sd[hostile_text(rng, 60) or "x"] = sd.pop(key)
        return f"{key} renamed"
    if how == "shape" and tensor is not None:
        shape = rng.choice(((), (0,), (1,), (tensor.numel(),), (tensor.numel() + 1,), (2, 3, 5, 7), (1,) * 9))
        sd[key] = torch.zeros(shape, dtype=tensor.dtype)
        return f"{key} shape {shape}"
    if how == "values" and tensor is not None and tensor.is_floating_point():
        fill = rng.choice((float("nan"), float("inf"), -float("inf"), 1e30, 0.0, 1e-45))
        sd[key] = torch.full_like(tensor, fill)
        return f"{key} all {fill}"
    if how == "strided" and tensor is not None and tensor.numel():
        view = rng.choice(("expand", "transpose", "huge"))
        if view == "expand" and tensor.ndim:
            sd[key] = tensor.reshape(-1)[:1].expand(tensor.shape)
        elif view == "transpose" and tensor.ndim >= 2:
            sd[key] = tensor.transpose(0, 1).contiguous().transpose(0, 1)
        else:
            sd[key] = tensor.reshape(-1)[:1].expand(2**40)
        return f"{key} {view} view"
    if how == "sparse" and tensor is not None and tensor.ndim >= 1:
        sd[key] = tensor.to_sparse()
        return f"{key} sparse"
    if how == "meta" and tensor is not None:
        sd[key] = torch.empty(tensor.shape, device="meta")
        return f"{key} meta"
    if how == "quantised" and tensor is not None and tensor.is_floating_point():
        sd[key] = torch.quantize_per_tensor(tensor.float(), 0.1, 0, torch.qint8)
        return f"{key} quantised"
    if how == "key-type":
        sd[rng.choice((1, None, 2.5, (1, 2)))] = sd.pop(key)
        return f"{key} under a non-string key"
    if how == "nest":
        depth = rng.choice((2, 5, 100))
        inner = dict(sd)
        for _ in range(depth):
            inner = {"state_dict": inner}
        sd.clear()
        sd.update(inner)
        return f"nested {depth} deep"
    if "arch" in obj:  # checkpoint-level damage
        if how == "arch":
            obj["arch"] = rng.choice((None, 1, "", "x" * 1000, "dsr", "edgeface", "dlib-resnet-v1", hostile_text(rng, 40)))
            return f"arch {str(obj['arch'])[:30]!r}"
        if how == "arch_args":
            return "arch_args " + _damage_args(rng, obj)
        if how == "format":
            obj["format_version"] = hostile_value(rng)
            obj["versions"] = hostile_value(rng)
            return "format fields"
        if how == "state_dict":
            obj["state_dict"] = hostile_value(rng)
            return "state_dict replaced"
    sd[key] = value
    return "unchanged"


def _damage_args(rng: random.Random, obj: dict) -> str:
    args = obj.get("arch_args")
    if rng.random() < 0.15:  # valid arguments of the largest network allowed, weights of a tiny one
        from core.vision.models.edgeface import VARIANTS

        large = {"dsr": {"channels": 256, "blocks": 64, "up_channels": 128},
                 "edgeface": {k: list(v) for k, v in VARIANTS["base"].items()}}
        obj["arch_args"] = large.get(str(obj.get("arch")), large["dsr"])
        return "the largest allowed"
    if not isinstance(args, dict) or rng.random() < 0.2:
        obj["arch_args"] = hostile_value(rng)
        return f"{obj['arch_args']!r}"[:60]
    key = rng.choice(sorted(args) + ["unknown"])
    current = args.get(key)
    if isinstance(current, (list, tuple)) and rng.random() < 0.6:
        items = list(current)
        items[rng.randrange(len(items))] = rng.choice((0, -1, 10**9, 1.5, True, "2", None, 2**63, 1024, 16, 64))
        args[key] = items if rng.random() < 0.5 else items[:rng.randrange(len(items) + 2)]
    elif rng.random() < 0.4:
        args[key] = rng.choice((0, 1, 64, 256, 1024, 4096, 10**6))  # in range or just beyond
    else:
        args[key] = hostile_value(rng)
    return f"{key}={args.get(key)!r}"[:80]


def model_case(rng: random.Random, env: FuzzEnv, folder: Path):  # noqa: ANN201
    from core.vision.models.base import Embedder
    from core.vision.models.loading import load_model, load_super_resolver
    from core.vision.models.sanity import probe_embedder

    bases = env.once("model_bases", _bases)
    name = rng.choice(sorted(bases))  # type: ignore[arg-type]
    base = bases[name]  # type: ignore[index]
    label = name
    if isinstance(base, bytes):
        data = base
    else:
        obj = copy.deepcopy(base)
        if rng.random() < 0.65:
            label += ": " + damage_object(rng, obj)
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()
    r = rng.random()
    if r < 0.3:
        how, data = damage_zip_entry(rng, data)
        label += f", {how}"
    elif r < 0.6 or isinstance(base, bytes):
        how, data = mutate_bytes(rng, data, keep=rng.choice((0, 4)))
        label += f", {how}"
    path = folder / "model.pt"
    path.write_bytes(data)
    loader = load_super_resolver if rng.random() < (0.7 if name.startswith("dsr") else 0.15) else load_model
    probe = rng.random() < 0.3

    def call() -> None:
        model = loader(path)
        if probe and loader is load_model:
            probe_embedder(Embedder(model, name="fuzz", source=str(path)))

    return f"{label}, {loader.__name__}", call
