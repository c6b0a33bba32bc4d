"""ONNX Runtime as the embedders' inference backend on the CPU (torch stays for training and as the fallback).

A loaded torch embedder is exported once (torch's TorchScript-based exporter) and the graph is cached under
the user cache folder, keyed by the weights digest the gallery knows the model by, the input size and the
torch version. Every session is checked against torch on fixed crops before it is used: a graph that does
not give the same embeddings (cosine below PARITY_MIN) is never used, whatever the cache holds.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import warnings
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import RollcallError
from core.paths import user_cache_dir
from core.vision.models.base import Embedder

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
OPSET = 17
PARITY_MIN = 0.99999  # cosine between torch's and ONNX Runtime's embedding of the same crop
CACHE_FOLDER = "onnx"


class BackendError(RollcallError):
    """ONNX Runtime cannot run this embedder (not installed, export failed, or outputs differ from torch)."""


def cache_path(embedder: Embedder, folder: Path | None = None) -> Path:
    """Where the exported graph of `embedder` is kept: one file per weights digest, input size and torch version."""
    folder = Path(folder) if folder is not None else user_cache_dir() / CACHE_FOLDER
    version = torch.__version__.split("+")[0]
    return folder / f"{embedder.arch}-{embedder.identity[:32]}-{embedder.spec.size}px-torch{version}-op{OPSET}.onnx"


def export_graph(embedder: Embedder) -> bytes:
    """The embedder's network as an ONNX graph (batch size free), from the loaded torch module (on the CPU:
    `with_backend` only exports CPU embedders)."""
    model = embedder.model
    size = embedder.spec.size
    example = torch.zeros(1, 3, size, size)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=OPSET,
                              input_names=["crops"], output_names=["embeddings"],
                              dynamic_axes={"crops": {0: "n"}, "embeddings": {0: "n"}})
    except Exception as exc:  # noqa: BLE001 - any exporter failure means: stay on torch
        raise BackendError(f"{embedder.name} could not be exported to ONNX ({type(exc).__name__}: {exc})") from exc
    return buffer.getvalue()


def session_options(threads: int) -> Any:
    """ONNX Runtime options matching Rollcall's thread policy (core.threads): `threads` intra-op threads, one
    inter-op thread, and idle threads that sleep instead of spinning unless OMP_WAIT_POLICY=ACTIVE."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "ACTIVE":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


@dataclasses.dataclass
class OnnxRunner:
    """An ONNX Runtime session computing an embedder's raw outputs from its normalised NCHW input."""

    session: Any
    path: Path | None = None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.detach().cpu().numpy().astype(np.float32, copy=False)
        return torch.from_numpy(self.session.run(None, {"crops": x})[0])


def parity(embedder: Embedder, runner: OnnxRunner, crops: int = 2) -> float:
    """The lowest cosine between torch's and the runner's embeddings of fixed pseudo-random crops."""
    size = embedder.spec.size
    rng = np.random.default_rng(20261206)
    batch = rng.integers(0, 256, (crops, size, size, 3), dtype=np.uint8)
    a, b = embedder.with_runner(None).embed(batch), embedder.with_runner(runner).embed(batch)
    return float(np.min(np.sum(a * b, axis=1)))


def _session(graph: bytes, threads: int) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(graph, session_options(threads), providers=["CPUExecutionProvider"])


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + f".{os.getpid()}.part")
    part.write_bytes(data)
    os.replace(part, path)


def onnx_embedder(embedder: Embedder, threads: int | None = None, cache: Path | None = None) -> Embedder:
    """`embedder` running on ONNX Runtime (same weights, identity and input spec). The graph is read from the
    cache when there and sound, else exported and cached. Raises BackendError when ONNX Runtime is missing,
    the export fails, or the session does not reproduce torch's embeddings."""
    if find_spec("onnxruntime") is None:
        raise BackendError("ONNX Runtime is not installed (pip install onnxruntime)")
    threads = threads or torch.get_num_threads()
    path = cache_path(embedder, cache)
    runner = None
    if path.is_file():
        try:
            runner = OnnxRunner(_session(path.read_bytes(), threads), path)
            if parity(embedder, runner) < PARITY_MIN:
                logger.warning("the cached ONNX graph %s does not match its model; exporting it again", path)
                runner = None
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt
            logger.warning("the cached ONNX graph %s cannot be used (%s); exporting it again", path, exc)
            runner = None
    if runner is None:
        graph = export_graph(embedder)
        try:
            runner = OnnxRunner(_session(graph, threads), path)
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"ONNX Runtime cannot run the exported {embedder.name} ({exc})") from exc
        score = parity(embedder, runner)
        if score < PARITY_MIN:
            raise BackendError(f"ONNX Runtime's embeddings of {embedder.name} differ from torch's (cosine {score:.6f} "
                               f"< {PARITY_MIN})")
        try:
            _write_atomically(path, graph)
        except OSError as exc:
            logger.warning("could not cache the ONNX graph at %s (%s); it will be exported again next time", path, exc)
    logger.info("%s embeds with ONNX Runtime (%d thread(s)); graph %s", embedder.name, threads, path)
    return embedder.with_runner(runner)


def with_backend(embedder: Embedder, backend: str = "auto", threads: int | None = None) -> Embedder:
    """The embedder on the chosen backend: "torch" as loaded; "onnx" on ONNX Runtime (BackendError if it
    cannot); "auto" on ONNX Runtime for a CPU embedder when it works, else torch (logged)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown inference backend '{backend}' (use {', '.join(BACKENDS)})")
    if backend == "torch" or embedder.runner is not None:
        return embedder
    try:
        if embedder.device.type != "cpu":
            raise BackendError(f"the ONNX backend runs on the CPU; {embedder.name} is on {embedder.device}")
        return onnx_embedder(embedder, threads)
    except BackendError as exc:
        if backend == "onnx":
            raise BackendError(f"{exc}. Choose the backend 'auto' or 'torch' in the engine settings.") from exc
        if embedder.device.type == "cpu":  # on a GPU torch is the backend by design, not as a fallback
            logger.warning("%s; embedding with torch", exc)
        return embedder
