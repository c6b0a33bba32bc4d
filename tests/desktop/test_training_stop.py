"""Cancel and Resume in the Training tab (issue 18): a real trainer stopped while it prepares its faces and
again mid-run, each time "Stopped; it can be resumed" with no error, and each resume going on from where
it stopped; a child that ignores the request is terminated without an error; preparation's progress."""

from __future__ import annotations

import sys

import pytest

from desktop.pages.training.result import STATE_TEXT
from desktop.pages.training_page import TrainingPage
from tests.conftest import shared_path
from tests.desktop.conftest import errors
from tests.trainer.conftest import TINY, copy_photos
from trainer.events import Prepare, RunStarted, Step, to_line

LONG_RUN = {"weights": {"l1": 1.0}, "max_steps": 100000, "epochs": 100000, "val_every": 100000}


@pytest.fixture
def page(ctx, qtbot, tmp_path, monkeypatch) -> TrainingPage:
    monkeypatch.setenv("ROLLCALL_DATA_DIR", str(tmp_path / "userdata"))
    page = TrainingPage(ctx)
    qtbot.addWidget(page)
    page.resize(1000, 800)
    page.show()
    yield page
    page.shutdown()


def wait_ended(qtbot, page: TrainingPage) -> None:
    qtbot.waitUntil(lambda: not page.process.is_running() and page.state not in ("starting", "running", "stopping"),
                    timeout=60_000)


def test_stopped_while_preparing_then_mid_run_each_resume_goes_on_from_there(ctx, page, qtbot, tmp_path):
    photos = copy_photos(shared_path("faces", "johns"), tmp_path / "photos", people=3, each=11)
    out = tmp_path / "run"
    page.data_edit.setText(str(photos))
    page.out_edit.setText(str(out))
    page.device_combo.setCurrentIndex(page.device_combo.findData("cpu"))
    page.extra_config = {k: v for k, v in {**TINY, **LONG_RUN}.items() if k != "device"}
    events: list = []
    page.process.event.connect(events.append)

    # 1. stopped while the faces are being prepared: no checkpoint yet, but resumable
    assert page.start_training()
    qtbot.waitUntil(lambda: page.status_label.text().startswith("Preparing faces"), timeout=60_000)
    assert " of " in page.status_label.text() and page.progress.format().startswith("face")
    page.cancel()
    wait_ended(qtbot, page)
    assert errors(ctx) == [] and page.state == "stopped", page.log_view.toPlainText()
    assert page.status_label.text() == STATE_TEXT["stopped"] == "Stopped; it can be resumed."
    assert page.last_finished.step is None and page.last_finished.summary["done"] < page.last_finished.summary["total"]
    assert not (out / "last.pt").exists() and page.resume_button.isEnabled()

    # 2. the resume reads the faces found so far from the cache, trains, and is stopped mid-run
    events.clear()
    assert page.resume()
    qtbot.waitUntil(lambda: page.loss_chart.point_count("l1") >= 1, timeout=60_000)
    assert any(isinstance(e, Prepare) and e.cached >= 1 for e in events)
    page.cancel()
    wait_ended(qtbot, page)
    assert errors(ctx) == [] and page.state == "stopped" and page.status_label.text() == STATE_TEXT["stopped"]
    stopped_at = page.last_finished.step
    assert stopped_at >= 1 and (out / "last.pt").is_file() and page.resume_button.isEnabled()

    # 3. the second resume continues the step count from the checkpoint, and the bar follows the steps
    events.clear()
    assert page.resume()
    qtbot.waitUntil(lambda: any(isinstance(e, Step) for e in events), timeout=60_000)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.resumed and started.start_step == stopped_at
    assert next(e for e in events if isinstance(e, Step)).step == stopped_at + 1
    qtbot.waitUntil(lambda: page.progress.value() > stopped_at, timeout=10_000)
    assert page.progress.format().startswith("step")
    page.cancel()
    wait_ended(qtbot, page)
    assert errors(ctx) == [] and page.state == "stopped" and page.last_finished.step > stopped_at


def test_a_child_that_ignores_the_stop_is_terminated_and_that_is_no_error(ctx, page, qtbot, tmp_path):
    started = RunStarted(job="train-dsr", run_dir=str(tmp_path / "run"), device="cpu", amp=False, config={},
                         start_step=0, total_steps=10)
    script = f"import sys, time\nprint({to_line(started)!r}, flush=True)\ntime.sleep(60)"
    page.data_edit.setText(str(tmp_path))
    page.out_edit.setText(str(tmp_path / "run"))
    page.command_factory = lambda run_dir, resume, minutes: [sys.executable, "-c", script]
    page.process.grace_ms = 200
    assert page.start_training()
    qtbot.waitUntil(lambda: page.state == "running", timeout=30_000)
    page.cancel()
    wait_ended(qtbot, page)
    assert errors(ctx) == []  # not "exited with code -1 (unexpected exit code)"
    assert page.state == "stopped" and "stopped on request" in page.log_view.toPlainText()
    assert page.status_label.text() == "Stopped before anything was saved; start it again."
    assert not page.resume_button.isEnabled() and page.start_button.isEnabled()


def test_preparation_events_show_faces_n_of_n_then_the_bar_counts_steps(page):
    page._set_state("starting")
    page.controls.starting()
    page._on_event(Prepare(phase="faces", done=3, total=9))
    page._refresh()
    assert page.status_label.text() == "Preparing faces 3 of 9…"
    assert (page.progress.value(), page.progress.maximum(), page.progress.format()) == (3, 9, "face %v / %m")
    page._on_event(Prepare(phase="faces", done=9, total=9, cached=4))
    assert page.status_label.text() == "Preparing faces 9 of 9 (4 from the last attempt)…"
    page._on_event(RunStarted(job="train-dsr", run_dir="", device="cpu", amp=False, config={}, start_step=0,
                              total_steps=20))
    page._on_event(Step(step=5, epoch=0, total_steps=20, losses={"l1": 0.1}, lr=1e-4, samples_per_s=1.0, eta_s=9.0))
    page._refresh()
    assert (page.progress.value(), page.progress.maximum(), page.progress.format()) == (5, 20, "step %v / %m")
