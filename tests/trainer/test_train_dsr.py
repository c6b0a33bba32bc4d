"""train-dsr end to end on a tiny dataset: events, checkpoints, stop and resume, NaN handling."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from core.errors import ConfigError
from core.vision.models.checkpoint import is_checkpoint
from core.vision.models.loading import load_super_resolver
from tests.conftest import REPO
from tests.trainer.conftest import TINY, enrol_tiny_faces, write_config
from trainer.config import DSRTrainConfig, load_config
from trainer.events import ErrorEvent, Finished, Step, WarningEvent, parse_event
from trainer.jobs import train_dsr
from trainer.runner import Run

L1_ONLY = {"weights": {"l1": 1.0}}  # no embedder in the training step: fast; validation still uses it


def events_of(run_dir: Path) -> list:
    return [parse_event(line) for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


def config(data: Path, **overrides: object) -> DSRTrainConfig:
    return DSRTrainConfig.from_dict({**TINY, "data": str(data), **overrides})


def run_in_process(cfg: DSRTrainConfig, run_dir: Path, hook=None, resume: bool = False) -> tuple[int, Run]:
    run = Run(run_dir, cfg, stream=io.StringIO(), resume=resume)
    return train_dsr.run(cfg, run, batch_hook=hook), run


def trainer_process(*args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "trainer", *args], cwd=REPO, env=env, text=True,
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow  # about 15 s on two cores: the dlib embedder's backward pass dominates
def test_two_steps_in_a_subprocess_emit_json_events_in_order_and_a_loadable_checkpoint(tiny_faces, tmp_path):
    cfg_path = write_config(tmp_path / "dsr.yaml", tiny_faces)
    out = tmp_path / "run"
    proc = trainer_process("train-dsr", "--config", str(cfg_path), "--out", str(out))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr

    lines = stdout.splitlines()
    events = [parse_event(line) for line in lines]  # every stdout line is an event, nothing else
    assert all(json.loads(line)["schema"] == 1 for line in lines)
    prepared = kinds(events).index("run_started")  # data preparation reports first: the first face, the last
    assert set(kinds(events)[:prepared]) == {"prepare"} and events[prepared - 1].done == events[prepared - 1].total
    assert kinds(events)[prepared:] == ["run_started", "step", "step", "validation", "checkpoint", "checkpoint",
                                        "finished"]
    assert "step 1/2" in stderr  # the human log went to stderr
    started, step1, step2, val, best, last, done = events[prepared:]
    assert started.job == "train-dsr" and started.device == "cpu" and not started.amp and started.total_steps == 2
    assert started.config["weights"] == {"l1": 1.0, "identity": 0.6, "feature": 0.18}
    assert [step1.step, step2.step] == [1, 2]
    assert set(step1.losses) == {"l1", "identity", "feature", "total"}
    assert step1.losses["total"] == pytest.approx(
        step1.losses["l1"] + 0.6 * step1.losses["identity"] + 0.18 * step1.losses["feature"], rel=1e-5)
    assert {"psnr", "ssim", "identity"} <= set(val.metrics) and val.is_best
    assert 0 < val.metrics["identity"] <= 1 and 0 < val.metrics["ssim"] <= 1 and val.metrics["psnr"] > 5
    assert (best.tag, last.tag) == ("best", "last")
    assert done.status == "completed" and done.step == 2 and done.summary["best"] == str(out / "best.pt")
    # the run folder: config copy, the same events, both checkpoints
    assert (out / "events.jsonl").read_text(encoding="utf-8").splitlines() == lines
    assert load_config("train-dsr", out / "config.yaml") == load_config("train-dsr", cfg_path)
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert is_checkpoint(ckpt) and ckpt["arch"] == "dsr" and ckpt["step"] == 2
    assert ckpt["arch_args"] == {"channels": 8, "blocks": 1, "up_channels": 4}
    assert ckpt["config"]["max_steps"] == 2 and "identity" in ckpt["metrics"] and "torch" in ckpt["versions"]
    model = load_super_resolver(out / "best.pt")  # what the app will load
    assert model(torch.zeros(1, 3, 28, 28)).shape == (1, 3, 112, 112)


def test_stop_then_resume_continues_the_step_count_and_the_curves(tiny_faces, tmp_path):
    cfg = config(tiny_faces, max_steps=4, val_every=100, **L1_ONLY)
    code, straight = run_in_process(cfg, tmp_path / "straight")
    assert code == 0
    reference = {e.step: e.losses for e in events_of(straight.dir) if isinstance(e, Step)}
    assert sorted(reference) == [1, 2, 3, 4]

    def stop_after_two(step: int, lr: torch.Tensor) -> torch.Tensor:
        if step == 2:
            run.stop.set("test")  # checked before the next batch
        return lr

    run = Run(tmp_path / "cut", cfg, stream=io.StringIO())
    assert train_dsr.run(cfg, run, batch_hook=stop_after_two) == train_dsr.EXIT_STOPPED
    first = events_of(run.dir)
    assert kinds(first)[-2:] == ["checkpoint", "finished"]
    assert first[-1].status == "stopped" and first[-1].step == 2
    assert torch.load(run.dir / "last.pt", weights_only=True)["step"] == 2

    code, resumed = run_in_process(cfg, tmp_path / "cut", resume=True)
    assert code == 0
    after = events_of(resumed.dir)[len(first):]  # events.jsonl goes on after the first attempt's events
    after = [e for e in after if e.kind != "prepare"]
    assert after[0].kind == "run_started" and after[0].resumed and after[0].start_step == 2
    steps = [e for e in after if isinstance(e, Step)]
    assert [e.step for e in steps] == [3, 4]
    for e in steps:  # the same batches, the same optimiser state: the same numbers
        assert e.losses == pytest.approx(reference[e.step], rel=1e-6, abs=1e-9)
    assert after[-1].status == "completed" and after[-1].step == 4


def test_a_nan_batch_is_skipped_and_a_second_in_a_row_stops_the_run_with_an_error(tiny_faces, tmp_path):
    def poison(steps):
        def hook(step: int, lr: torch.Tensor) -> torch.Tensor:
            return torch.full_like(lr, math.nan) if step in steps else lr
        return hook

    cfg = config(tiny_faces, max_steps=3, **L1_ONLY)
    code, run = run_in_process(cfg, tmp_path / "once", hook=poison({2}))
    events = events_of(run.dir)
    assert code == 0 and events[-1].status == "completed"
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and warnings[0].step == 2 and "skipped" in warnings[0].message
    assert [e.step for e in events if isinstance(e, Step)] == [1, 3]
    weights = torch.load(run.dir / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(t).all() for t in weights.values())

    code, run = run_in_process(cfg, tmp_path / "twice", hook=poison({2, 3}))
    events = events_of(run.dir)
    assert code == train_dsr.EXIT_FAILED
    assert kinds(events)[-3:] == ["warning", "error", "finished"]
    error, done = events[-2], events[-1]
    assert isinstance(error, ErrorEvent) and error.error_type == "nonfinite_loss" and error.step == 3
    assert "lr" in error.message  # says what to do
    assert isinstance(done, Finished) and done.status == "failed"


@pytest.mark.parametrize("how", ["stdin", "sigterm"])
def test_a_running_trainer_stops_on_request_and_saves_a_resumable_checkpoint(tiny_faces, tmp_path, how):
    cfg_path = write_config(tmp_path / "dsr.yaml", tiny_faces, max_steps=100000, epochs=100000,
                            log_every=1, val_every=100000, **L1_ONLY)
    out = tmp_path / "run"
    proc = trainer_process("train-dsr", "--config", str(cfg_path), "--out", str(out), stdin=subprocess.PIPE)
    try:
        for line in proc.stdout:
            if parse_event(line).kind == "step":
                break
        if how == "stdin":
            proc.stdin.write("stop\n")
            proc.stdin.flush()
        else:
            proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, stderr
    events = [parse_event(line) for line in stdout.splitlines()]
    assert events[-1].kind == "finished" and events[-1].status == "stopped"
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["step"] == events[-1].step >= 1
    assert yaml.safe_load((out / "config.yaml").read_text())["max_steps"] == 100000


def test_bad_config_is_an_error_event_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: somewhere\nbatchsize: 4\n", encoding="utf-8")
    proc = trainer_process("train-dsr", "--config", str(bad), "--out", str(tmp_path / "run"))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    events = [parse_event(line) for line in stdout.splitlines()]
    assert kinds(events) == ["error", "finished"]
    assert "batchsize" in events[0].message and "batch_size" in events[0].message
    assert "batchsize" in stderr


def test_an_existing_run_folder_is_not_overwritten(tiny_faces, tmp_path):
    cfg = config(tiny_faces, **L1_ONLY)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"x")
    with pytest.raises(Exception, match="--resume"):
        Run(tmp_path / "run", cfg, stream=io.StringIO())


def test_max_minutes_ends_the_run_resumably_with_status_time_limit(tiny_faces, tmp_path):
    cfg = config(tiny_faces, max_minutes=1e-9, **L1_ONLY)
    code, run = run_in_process(cfg, tmp_path / "run")
    events = events_of(run.dir)
    assert code == 0 and events[-1].status == "time_limit" and events[-1].step == 0
    assert torch.load(run.dir / "last.pt", weights_only=True)["step"] == 0
    code, run = run_in_process(cfg.replace(max_minutes=0.0), tmp_path / "run", resume=True)
    assert code == 0 and events_of(run.dir)[-1].status == "completed" and events_of(run.dir)[-1].step == 2


def test_resume_refuses_a_folder_without_last_pt(tiny_faces, tmp_path):
    cfg = config(tiny_faces, **L1_ONLY)
    with pytest.raises(Exception, match="no last.pt"):
        run_in_process(cfg, tmp_path / "empty", resume=True)


def test_eval_lowres_compares_a_dsr_checkpoint_with_bicubic(tiny_faces, tmp_path):
    from core.vision.models.checkpoint import make_checkpoint, save_atomic
    from core.vision.models.dsr import DSRNet
    from trainer.config import EvalLowresConfig
    from trainer.jobs import eval_lowres

    ckpt = save_atomic(make_checkpoint(DSRNet(channels=4, blocks=0, up_channels=4)), tmp_path / "dsr.pt")
    cfg = EvalLowresConfig(data=str(tiny_faces), checkpoint=str(ckpt), device="cpu", max_images=2, batch_size=2)
    run = Run(tmp_path / "eval", cfg, stream=io.StringIO())
    assert eval_lowres.run(cfg, run) == 0
    events = events_of(run.dir)
    assert kinds(events) == ["run_started", "validation", "finished"]
    metrics = events[1].metrics
    assert {"psnr_dsr", "psnr_bicubic", "ssim_dsr", "identity_dsr", "identity_bicubic"} <= set(metrics)
    # an untrained DSR is bicubic upscaling (its last layer starts at zero)
    assert metrics["identity_dsr"] == pytest.approx(metrics["identity_bicubic"], abs=1e-3)


def gallery_of(tiny_faces: Path, db_path: Path) -> Path:
    from core.storage.db import Database
    from core.gallery.store import Gallery

    with Database(db_path) as db:
        enrol_tiny_faces(Gallery(db), tiny_faces)
    return db_path


def test_the_gallery_is_a_data_source_split_by_person(tiny_faces, tmp_path):
    db_path = gallery_of(tiny_faces, tmp_path / "rollcall.db")
    cfg = config(str(db_path), **L1_ONLY)
    code, run = run_in_process(cfg, tmp_path / "run")
    assert code == 0
    split = json.loads((run.dir / "split.json").read_text(encoding="utf-8"))
    people = {name.split(":", 1)[1] for name in split["train"] + split["val"]}
    assert people == {p.name for p in tiny_faces.iterdir() if p.is_dir()}
    assert not set(split["train"]) & set(split["val"])
    assert events_of(run.dir)[-1].status == "completed"
    prepared = [e for e in events_of(run.dir) if e.kind == "prepare"]  # each stored face counted
    assert prepared[-1].done == prepared[-1].total == 6


def test_a_file_that_is_not_a_gallery_fails_with_a_message_naming_it(tmp_path):
    bogus = tmp_path / "faces.db"
    bogus.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError) as info:
        run_in_process(config(str(bogus), **L1_ONLY), tmp_path / "run")
    assert str(bogus) in str(info.value) and "gallery" in str(info.value)


def test_extra_judges_add_to_the_identity_loss_and_report_per_model_metrics(tiny_faces, tmp_path):
    cfg = config(tiny_faces, weights={"l1": 1.0, "identity": 0.6}, embedder=str(embedder_file(tmp_path, 3)),
                 extra_embedders={str(embedder_file(tmp_path, 4)): 0.5}, max_val_images=0,
                 val_fraction=0.67)  # two validation people: pairs of both kinds
    code, run = run_in_process(cfg, tmp_path / "run")
    assert code == 0
    val = next(e for e in events_of(run.dir) if e.kind == "validation")
    per_model = [k for k in val.metrics if k.startswith("identity:")]
    assert len(per_model) == 2
    a, b = (val.metrics[k] for k in per_model)
    assert val.metrics["identity"] == pytest.approx((1.0 * a + 0.5 * b) / 1.5, rel=1e-5)
    assert 0.0 <= val.metrics["verification"] <= 1.0 and "verification_bicubic" in val.metrics


def embedder_file(tmp_path: Path, seed: int) -> Path:
    """A random EdgeFace-XXS saved as a Rollcall checkpoint (a distinct model per seed)."""
    from core.vision.models.checkpoint import make_checkpoint, save_atomic
    from tests.core.gallery_fixtures import tiny_embedder

    path = tmp_path / f"judge{seed}.pt"
    save_atomic(make_checkpoint(tiny_embedder(seed).model, step=0), path)
    return path
