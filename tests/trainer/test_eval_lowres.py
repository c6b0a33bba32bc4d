"""eval-lowres in pairs mode (the low-resolution benchmark as a job): events, results, stop, config, errors."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from trainer.config import EvalLowresConfig, load_config, save_config
from trainer.events import Finished, RunStarted, Step, Validation, parse_event
from trainer.jobs import eval_lowres
from trainer.runner import Run

IMAGES, DEGRADED = 12, 8  # in tiny_pairs: every image, and the image_b ones


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hr-cache")


def pairs_config(data: Path, **overrides: object) -> EvalLowresConfig:
    return EvalLowresConfig.from_dict({"data": str(data), "device": "cpu", "sizes": [16, 24], "log_every": 5,
                                       **overrides})


def events_of(run_dir: Path) -> list:
    """Every line of events.jsonl parsed (and so checked against the schema)."""
    return [parse_event(line) for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def completed(tiny_pairs, untrained_dsr, cache_dir, tmp_path_factory):
    cfg = pairs_config(tiny_pairs, checkpoint=str(untrained_dsr), cache_dir=str(cache_dir))
    run = Run(tmp_path_factory.mktemp("runs") / "eval", cfg, stream=io.StringIO())
    return eval_lowres.run(cfg, run), run, events_of(run.dir)


def test_pairs_mode_emits_progress_one_validation_per_size_and_the_result(completed):
    code, run, events = completed
    assert code == 0
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    assert [e.kind for e in events if e.kind != "step"] == ["run_started", "validation", "validation", "finished"]
    started, done = events[0], events[-1]
    total = IMAGES + 2 * DEGRADED
    assert isinstance(started, RunStarted) and started.job == "eval-lowres" and started.total_steps == total
    assert started.config["sizes"] == [16, 24]
    steps = [e for e in events if isinstance(e, Step)]
    assert [s.step for s in steps] == sorted({s.step for s in steps}) and steps[-1].step == total
    assert all(s.total_steps == total and s.eta_s >= 0 for s in steps)
    assert [s.phase for s in steps if s.step in (IMAGES, IMAGES + DEGRADED, total)] == ["hr", "16px", "24px"]
    # each size's validation comes right after the step that ends its pass
    for size, end in ((16, IMAGES + DEGRADED), (24, total)):
        i = next(i for i, e in enumerate(events) if isinstance(e, Validation) and e.metrics["face_px"] == size)
        assert isinstance(events[i - 1], Step) and events[i - 1].step == end == events[i].step
    assert isinstance(done, Finished) and done.status == "completed" and done.step == total


def test_validation_metrics_and_finished_summary_match_lowres_json(completed):
    _, run, events = completed
    validations = [e for e in events if isinstance(e, Validation)]
    result = events[-1].summary["result"]
    assert json.loads((run.dir / "lowres.json").read_text(encoding="utf-8")) == result
    assert (run.dir / "lowres.png").read_bytes()[:4] == b"\x89PNG"
    assert events[-1].summary["json"] == str(run.dir / "lowres.json")
    assert list(result["sizes"]) == ["16", "24"] and result["config"]["pairs"] == 20
    for val in validations:
        entry = result["sizes"][str(val.metrics["face_px"])]
        for method in ("hr", "bicubic", "dsr", "direct"):
            assert val.metrics[f"accuracy_{method}"] == entry[method]["accuracy"]
            assert val.metrics[f"tar_at_far_1e-2_{method}"] == entry[method]["tar_at_far_1e-2"]
            assert 0.0 <= entry[method]["accuracy"] <= 1.0
        assert val.best_metric == "accuracy_dsr" and val.best_value == val.metrics["accuracy_dsr"]
        assert entry["hr"]["accuracy"] >= 0.8


def test_a_second_run_takes_the_hr_pass_from_the_cache(completed, tiny_pairs, cache_dir, tmp_path):
    cfg = pairs_config(tiny_pairs, cache_dir=str(cache_dir), sizes=[16])  # no DSR: the HR pass does not depend on it
    run = Run(tmp_path / "again", cfg, stream=io.StringIO())
    assert eval_lowres.run(cfg, run) == 0
    result = events_of(run.dir)[-1].summary["result"]
    assert result["hr_from_cache"] and result["sizes"]["16"]["dsr"] is None
    assert result["sizes"]["16"]["bicubic"] == completed[2][-1].summary["result"]["sizes"]["16"]["bicubic"]


def test_a_stop_request_ends_the_run_with_status_stopped(tiny_pairs, tmp_path):
    cfg = pairs_config(tiny_pairs, log_every=1)
    run = Run(tmp_path / "stopped", cfg, stream=io.StringIO())
    emit = run.emit

    def stop_after_first_step(event):
        written = emit(event)
        if isinstance(event, Step):
            run.stop.set("test")
        return written

    run.emit = stop_after_first_step
    assert eval_lowres.run(cfg, run) == eval_lowres.EXIT_STOPPED
    events = events_of(run.dir)
    assert [e.kind for e in events] == ["run_started", "step", "finished"]
    assert events[-1].status == "stopped" and events[-1].step == 1
    assert not (run.dir / "lowres.json").exists()


def test_config_reads_sizes_as_a_list_and_round_trips_through_the_run_folder(tmp_path):
    cfg = EvalLowresConfig.from_dict({"data": str(tmp_path / "d"), "sizes": [24, 12, 24], "limit": 40,
                                      "cache_dir": str(tmp_path / "c")})
    assert cfg.sizes == (12, 24)
    save_config(cfg, tmp_path)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["sizes"] == [12, 24]
    assert load_config("eval-lowres", tmp_path / "config.yaml") == cfg
    for bad, problem in (({"sizes": "12,16"}, "'sizes' must be a list"), ({"sizes": [2]}, "between 4 and 112"),
                         ({"detector": "yunet"}, "yunet:PATH"), ({"limit": 6}, "at least 20"),
                         ({"min_face": 0}, "min_face"), ({"sizez": [12]}, "unknown key")):
        with pytest.raises(ValueError, match=problem):
            EvalLowresConfig.from_dict({"data": "d", **bad})


def test_the_example_config_loads_with_paths_relative_to_it():
    path = REPO / "bench" / "configs" / "eval_lowres_celeba.yaml"
    cfg = load_config("eval-lowres", path)
    assert Path(cfg.data) == (path.parent / "../../../shared/bench/celeba").resolve()
    assert cfg.sizes == (12, 16, 24, 32) and cfg.embedder == "dlib" and cfg.detector == "mtcnn"


def test_a_missing_image_fails_with_an_error_event_that_says_what_to_do(tiny_pairs, tmp_path):
    data = shutil.copytree(tiny_pairs, tmp_path / "bench")
    gone = sorted((data / "images").iterdir())[0]
    gone.unlink()
    cfg_path = tmp_path / "eval.yaml"
    cfg_path.write_text(yaml.safe_dump({"data": str(data), "device": "cpu", "sizes": [16]}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "trainer", "eval-lowres", "--config", str(cfg_path), "--out",
                           str(tmp_path / "run"), "--no-stdin"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 1, proc.stderr
    events = [parse_event(line) for line in proc.stdout.splitlines()]
    assert [e.kind for e in events] == ["error", "finished"] and events[-1].status == "failed"
    assert events[0].error_type == "BenchmarkDataError" and gone.name in events[0].message
    assert "Copy them there" in events[0].message
