"""bench.versus: its figures are there and numeric, and the ratios are dlib / Rollcall."""

from __future__ import annotations

import math
import os

import pytest

from tests.conftest import shared_path

KEYS = ("rollcall_ms_p50", "rollcall_ms_p95", "dlib_ms_p50", "dlib_ms_p95", "ratio_p50", "ratio_p95",
        "rollcall_faces", "dlib_faces")


@pytest.fixture
def versus(monkeypatch):
    """bench.versus imported without leaving its thread settings behind for later tests."""
    import torch

    from core import threads

    # importing it sets OMP_WAIT_POLICY when unset: put back as it was after the test
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    monkeypatch.setattr(threads, "_applied", threads._applied)
    count = torch.get_num_threads()
    import bench.versus

    yield bench.versus
    torch.set_num_threads(count)


def test_ratios_are_dlib_over_rollcall(versus):
    result = versus.summarise([10.0, 20.0, 30.0, 40.0, 50.0], [100.0, 300.0, 300.0, 400.0, 1000.0])
    assert result["rollcall_ms_p50"] == 30.0 and result["dlib_ms_p50"] == 300.0
    assert result["ratio_p50"] == 10.0
    assert result["ratio_p95"] == pytest.approx(result["dlib_ms_p95"] / result["rollcall_ms_p95"], abs=0.005)


def test_no_timed_frames_is_an_error_that_says_what_to_do(versus):
    with pytest.raises(ValueError, match="--warmup"):
        versus.summarise([], [])


def test_three_frames_of_the_hamilton_clip(versus):
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    clip = shared_path("video", "hamilton_clip.mp4")
    refs = shared_path("video", "hamilton_refs")
    result = versus.compare(clip, frames=3, warmup=1, refs=refs)
    for key in KEYS:
        assert isinstance(result[key], (int, float)) and math.isfinite(result[key]), key
    assert result["frames"] == 3
    assert result["rollcall_faces"] > 0 and result["dlib_faces"] > 0  # both see the people on stage
    for q in ("p50", "p95"):
        expected = result[f"dlib_ms_{q}"] / result[f"rollcall_ms_{q}"]
        assert result[f"ratio_{q}"] == pytest.approx(expected, rel=0.01, abs=0.01)
