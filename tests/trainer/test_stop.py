"""Stopping the trainer: during data preparation (between images) and between batches, by the stop file
the app writes; the stopped exit code comes within STOP_WITHIN_S, and a resume reuses the prepared faces
and continues the step count."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.trainer.conftest import copy_photos, write_config
from tests.trainer.test_train_dsr import L1_ONLY, config, events_of, trainer_process
from trainer.events import Prepare, parse_event
from trainer.exit_codes import EXIT_OK, EXIT_STOPPED
from trainer.jobs import train_dsr
from trainer.runner import STOP_FILENAME, Run, StopRequested

STOP_WITHIN_S = 2.0  # issue 18: a requested stop ends the process this soon in normal cases


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 people x 3 photos of 150x150 (not aligned crops): each one goes through the face detector."""
    return copy_photos(shared_path("faces", "johns"), tmp_path_factory.mktemp("photos"))


def stop_when(proc: subprocess.Popen, out: Path, ready) -> tuple[list, float]:
    """Read events until `ready(event)`, then create the stop file; (events read, seconds until exit)."""
    seen = []
    for line in proc.stdout:
        seen.append(parse_event(line))
        if ready(seen[-1]):
            break
    else:
        pytest.fail(f"the trainer ended before the moment to stop it: {proc.stderr.read()[-2000:]}")
    (out / STOP_FILENAME).touch()
    asked = time.monotonic()
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return seen, time.monotonic() - asked


def test_a_stop_while_faces_are_prepared_exits_stopped_and_the_resume_reuses_them(photos, tmp_path, monkeypatch):
    out = tmp_path / "run"
    cfg_path = write_config(tmp_path / "dsr.yaml", photos, **L1_ONLY)
    proc = trainer_process("train-dsr", "--config", str(cfg_path), "--out", str(out), stdin=subprocess.PIPE)
    seen, took = stop_when(proc, out, lambda e: isinstance(e, Prepare) and e.done >= 1)
    assert proc.returncode == EXIT_STOPPED, proc.stderr.read()[-2000:]
    print(f"stopped {took:.2f} s after the request")
    assert took < STOP_WITHIN_S, f"the stop took {took:.2f} s"
    events = events_of(out)
    first = [e for e in events if isinstance(e, Prepare)]
    assert first[0].phase == "faces" and first[0].total == 9 - 2  # 2 validation faces of 3 (max_val_images 1)
    done = events[-1]
    assert done.kind == "finished" and done.status == "stopped" and done.step is None
    assert 1 <= done.summary["done"] < done.summary["total"]  # it did not prepare everything first
    assert not (out / "last.pt").exists() and (out / "faces_cache.json").is_file()

    # the resume (in this process, so the detector can be watched) finds the stopped images in the cache
    looked_at = []

    class CountingFinder(train_dsr.FaceFinder):
        def __call__(self, image):
            looked_at.append(image.shape)
            return super().__call__(image)

    monkeypatch.setattr(train_dsr, "FaceFinder", CountingFinder)
    cfg = config(photos, **L1_ONLY)
    run = Run(out, cfg, stream=io.StringIO(), resume=True)
    assert train_dsr.run(cfg, run) == EXIT_OK
    resumed = events_of(out)[len(events):]
    prepared = [e for e in resumed if isinstance(e, Prepare)]
    assert prepared[-1].done == prepared[-1].total and prepared[-1].cached >= done.summary["done"]
    assert len(looked_at) == prepared[-1].total - prepared[-1].cached
    started = next(e for e in resumed if e.kind == "run_started")
    assert started.resumed and started.start_step == 0
    assert resumed[-1].status == "completed" and resumed[-1].step == 2


def test_a_stop_file_mid_run_exits_stopped_with_a_checkpoint_and_the_resume_continues_the_steps(
        photos, tmp_path):
    out = tmp_path / "run"
    cfg_path = write_config(tmp_path / "dsr.yaml", photos, max_steps=100000, epochs=100000, val_every=100000,
                            **L1_ONLY)
    proc = trainer_process("train-dsr", "--config", str(cfg_path), "--out", str(out), stdin=subprocess.DEVNULL)
    _, took = stop_when(proc, out, lambda e: e.kind == "step")
    assert proc.returncode == EXIT_STOPPED, proc.stderr.read()[-2000:]
    print(f"stopped {took:.2f} s after the request")
    assert took < STOP_WITHIN_S, f"the stop took {took:.2f} s"
    stopped = events_of(out)[-1]
    assert stopped.status == "stopped" and stopped.step >= 1 and (out / "last.pt").is_file()

    proc = trainer_process("train-dsr", "--resume", str(out), stdin=subprocess.DEVNULL)
    seen, _ = stop_when(proc, out, lambda e: e.kind == "step")
    assert proc.returncode == EXIT_STOPPED
    started = next(e for e in seen if e.kind == "run_started")
    assert started.resumed and started.start_step == stopped.step
    assert next(e for e in seen if e.kind == "step").step == stopped.step + 1


def test_a_stop_while_the_models_load_ends_before_the_first_step_and_resumes_from_step_0(tiny_faces, tmp_path,
                                                                                          monkeypatch):
    load_judges = train_dsr.load_judges
    cfg = config(tiny_faces, **L1_ONLY)
    run = Run(tmp_path / "run", cfg, stream=io.StringIO())

    def stop_meanwhile(*args):
        run.stop.set("test")
        return load_judges(*args)

    monkeypatch.setattr(train_dsr, "load_judges", stop_meanwhile)
    with pytest.raises(StopRequested) as stopped:  # the command line turns it into exit code 3
        train_dsr.run(cfg, run)
    assert stopped.value.phase == "references"
    assert "run_started" not in [e.kind for e in events_of(run.dir)] and not run.last_path.exists()

    monkeypatch.setattr(train_dsr, "load_judges", load_judges)
    resumed = Run(run.dir, cfg, stream=io.StringIO(), resume=True)
    assert train_dsr.run(cfg, resumed) == EXIT_OK
    started = next(e for e in events_of(run.dir) if e.kind == "run_started")
    assert started.resumed and started.start_step == 0
