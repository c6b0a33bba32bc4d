"""ONNX Runtime backend of the embedders: parity with torch on real aligned faces, the cache by weights
digest (reused, rebuilt when damaged or not matching), the fallback to torch, and the thread options."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from core.errors import ConfigError
from core.service.settings import EngineSettings
from core.vision.detect.mtcnn import MTCNNDetector
from core.vision.imageio import read_image
from core.vision.models import onnx_backend
from core.vision.models.loading import load_embedder
from core.vision.models.onnx_backend import (PARITY_MIN, BackendError, cache_path, onnx_embedder, session_options,
                                             with_backend)
from core.vision.pipeline import FacePipeline
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def face_photos() -> list[np.ndarray]:
    folder = shared_path("faces", "johns")
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:6]
    return [read_image(p) for p in photos]


def real_crops(embedder, photos) -> np.ndarray:
    """Aligned crops of the faces MTCNN finds in the photos, at the embedder's input size and template."""
    pipeline = FacePipeline(MTCNNDetector(), embedder)
    crops = [face.crop for image in photos for face in pipeline.align_detections(image, pipeline.detect(image))]
    assert len(crops) >= 4, "the shared photos should hold faces"
    return np.stack(crops)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("model", ["dlib", "edgeface_xs_q.pt", "edgeface_xxs_q.pt"])
def test_onnx_runtime_embeds_real_faces_as_torch_does(model, face_photos, tmp_path) -> None:
    embedder = load_embedder("dlib" if model == "dlib" else str(shared_path("models", model)))
    fast = onnx_embedder(embedder, threads=1, cache=tmp_path)
    assert fast.runner is not None and fast.identity == embedder.identity and fast.spec == embedder.spec
    crops = real_crops(embedder, face_photos)
    for batch in (crops[:1], crops):  # batch size is free in the exported graph
        assert cosines(embedder.embed(batch), fast.embed(batch)).min() >= PARITY_MIN


def test_the_graph_is_cached_by_weights_digest_and_reused(default_embedder, tmp_path, monkeypatch) -> None:
    onnx_embedder(default_embedder, threads=1, cache=tmp_path)
    path = cache_path(default_embedder, tmp_path)
    assert path.is_file() and default_embedder.identity[:32] in path.name
    monkeypatch.setattr(onnx_backend, "export_graph", lambda e: pytest.fail("a cached graph was exported again"))
    again = onnx_embedder(default_embedder, threads=1, cache=tmp_path)
    assert again.runner.path == path


def test_a_damaged_cached_graph_is_exported_again(default_embedder, tmp_path, caplog) -> None:
    path = cache_path(default_embedder, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x08\x07not an onnx graph" * 100)
    with caplog.at_level(logging.WARNING):
        fast = onnx_embedder(default_embedder, threads=1, cache=tmp_path)
    assert "cannot be used" in caplog.text
    assert path.stat().st_size > 1_000_000 and fast.runner is not None


def test_a_cached_graph_of_other_weights_is_never_used(default_embedder, tmp_path, caplog) -> None:
    """A file at the model's cache path computing something else (another model's graph, or a tampered
    one) fails the parity check against torch and is replaced."""
    # A graph with the same input and output names and shapes but other weights: dlib's own graph with
    # its largest weight negated.
    graph = onnx_backend.export_graph(default_embedder)
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(graph)
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(init).copy()
    values *= -1.0
    init.CopyFrom(numpy_helper.from_array(values, init.name))
    path = cache_path(default_embedder, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    with caplog.at_level(logging.WARNING):
        fast = onnx_embedder(default_embedder, threads=1, cache=tmp_path)
    assert "does not match its model" in caplog.text
    crops = np.random.default_rng(1).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    assert cosines(default_embedder.embed(crops), fast.embed(crops)).min() >= PARITY_MIN


def test_auto_falls_back_to_torch_when_the_export_fails_and_onnx_says_why(default_embedder, monkeypatch,
                                                                          caplog) -> None:
    def broken(embedder):
        raise BackendError(f"{embedder.name} could not be exported to ONNX (test)")

    monkeypatch.setattr(onnx_backend, "export_graph", broken)
    monkeypatch.setattr(onnx_backend, "cache_path", lambda e, folder=None: onnx_backend.user_cache_dir() / "none.onnx")
    with caplog.at_level(logging.WARNING):
        assert with_backend(default_embedder, "auto").runner is None
    assert "could not be exported" in caplog.text
    with pytest.raises(BackendError, match="could not be exported"):
        with_backend(default_embedder, "onnx")
    assert with_backend(default_embedder, "torch") is default_embedder


def test_outputs_that_differ_from_torch_refuse_the_backend(default_embedder, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(onnx_backend, "parity", lambda embedder, runner: 0.5)
    with pytest.raises(BackendError, match="differ from torch"):
        onnx_embedder(default_embedder, threads=1, cache=tmp_path)
    assert not cache_path(default_embedder, tmp_path).exists()  # a graph that failed is not cached


def test_sessions_follow_the_thread_policy(monkeypatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    options = session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the operator asked for spinning threads
    with pytest.raises(RuntimeError, match="does not have configuration"):  # ONNX Runtime's default: spinning
        session_options(1).get_session_config_entry("session.intra_op.allow_spinning")


def test_the_backend_is_an_engine_setting_checked_like_the_others() -> None:
    assert EngineSettings().backend == "auto"
    assert EngineSettings(backend="torch").models_key != EngineSettings().models_key
    with pytest.raises(ConfigError, match="backend must be one of auto, torch, onnx"):
        EngineSettings(backend="tensorrt")
    with pytest.raises(ConfigError, match="'backend' must be a str"):
        EngineSettings.from_dict({"backend": 1})
