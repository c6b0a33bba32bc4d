"""finetune end to end on a tiny dataset and a tiny EdgeFace: the two stages, validation, NaN handling,
the checkpoint chosen by SR-HR similarity, the final comparison with the untuned model."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.vision.models.loading import load_embedder
from tests.conftest import REPO
from tests.trainer.conftest import tiny_embedder_file
from trainer.config import FinetuneConfig
from trainer.events import ErrorEvent, Finished, Validation, WarningEvent, parse_event
from trainer.jobs import finetune
from trainer.runner import Run

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# 3 people x 5 faces: 12 train, 3 val faces; batch 12 -> one step per epoch
TINY = {"stage1_epochs": 1, "stage2_epochs": 1, "batch_size": 12, "log_every": 1, "device": "cpu",
        "eval_sizes": [16], "backbone_lr": 1e-3, "head_lr_stage2": 1e-3}


@pytest.fixture(scope="module")
def embedder_file(tmp_path_factory) -> Path:
    return tiny_embedder_file(tmp_path_factory.mktemp("embedder") / "tiny_edgeface.pt")


def config(data: Path, embedder: Path, dsr: Path | str = "", **overrides: object) -> FinetuneConfig:
    return FinetuneConfig.from_dict({**TINY, "data": str(data), "embedder": str(embedder), "dsr": str(dsr),
                                     **overrides})


def run_in_process(cfg: FinetuneConfig, run_dir: Path, **hooks) -> tuple[int, list]:
    stream = io.StringIO()
    code = finetune.run(cfg, Run(run_dir, cfg, stream=stream), **hooks)
    return code, [parse_event(line) for line in stream.getvalue().splitlines()]


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, after: dict) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_stage_one_trains_only_the_head_and_stage_two_the_whole_model(five_each, embedder_file, untrained_dsr,
                                                                       tmp_path, monkeypatch):
    models: dict[str, torch.nn.Module] = {}
    real_head = finetune.ArcFaceHead

    def remembered_head(*args, **kwargs):
        models["head"] = real_head(*args, **kwargs)
        return models["head"]

    real_load = finetune.load_embedder

    def remembered_model(*args, **kwargs):
        embedder = real_load(*args, **kwargs)
        models.setdefault("model", embedder.model)  # the first load is the model being tuned
        return embedder

    monkeypatch.setattr(finetune, "ArcFaceHead", remembered_head)
    monkeypatch.setattr(finetune, "load_embedder", remembered_model)
    seen: dict[int, tuple[int, dict, dict, list[bool]]] = {}
    start: dict[str, dict] = {}

    def after_step(step: int, stage: int) -> None:
        if not start:
            return
        seen[step] = (stage, snapshot(models["model"]), snapshot(models["head"]),
                      [p.requires_grad for p in models["model"].parameters()])

    def before_first(step: int, lr_batch: torch.Tensor) -> torch.Tensor:
        if step == 1:
            start["model"], start["head"] = snapshot(models["model"]), snapshot(models["head"])
        return lr_batch

    code, events = run_in_process(config(five_each, embedder_file, untrained_dsr), tmp_path / "run",
                                  batch_hook=before_first, step_hook=after_step)
    assert code == 0, [e for e in events if isinstance(e, (ErrorEvent, WarningEvent))]
    stage1, backbone1, head1, grads1 = seen[1]
    stage2, backbone2, head2, grads2 = seen[2]
    assert (stage1, stage2) == (1, 2)
    assert not any(grads1) and all(grads2)  # frozen, then unfrozen
    assert changed(start["model"], backbone1) == []  # stage 1: the backbone did not move ...
    assert changed(start["head"], head1) == ["weight"]  # ... the head did
    assert len(changed(backbone1, backbone2)) > 0.9 * len(backbone1)  # stage 2: the backbone trains
    assert changed(head1, head2) == ["weight"]

    validations = [e for e in events if isinstance(e, Validation)]
    assert [v.stage for v in validations] == [1, 2]
    for v in validations:
        for key in ("loss", "accuracy", "similarity"):
            assert isinstance(v.metrics[key], float) and math.isfinite(v.metrics[key]), (key, v.metrics)
        assert 0.0 <= v.metrics["accuracy"] <= 1.0 and -1.0 <= v.metrics["similarity"] <= 1.0
        assert v.best_metric == "similarity"
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.status == "completed"
    evaluation = finished.summary["evaluation"]
    assert set(evaluation["models"]) == {"base", "tuned"} and set(evaluation["models"]["base"]) >= {"hr", "16px"}
    assert json.loads((tmp_path / "run" / "evaluation.json").read_text()) == evaluation
    tuned = load_embedder(tmp_path / "run" / "best.pt")  # best.pt is an embedder the app can load
    assert tuned.dim == 32 and tuned.arch == "edgeface"


def test_the_best_checkpoint_is_the_highest_similarity_not_the_last_or_most_accurate(five_each, embedder_file,
                                                                                      tmp_path):
    # learning rates far too high for the data: the similarity goes up and down, and is highest at another
    # validation than the accuracy (checked below, so the test tells the three choices apart)
    cfg = config(five_each, embedder_file, stage2_epochs=4, backbone_lr=0.01, head_lr_stage2=0.01, flip_prob=1.0,
                 patience=0, eval_sizes=[], collapse_similarity=1.0)
    code, events = run_in_process(cfg, tmp_path / "run")
    assert code == 0
    validations = [e for e in events if isinstance(e, Validation)]
    sims = [v.metrics["similarity"] for v in validations]
    accs = [v.metrics["accuracy"] for v in validations]
    best = max(range(len(sims)), key=sims.__getitem__)
    assert best != len(sims) - 1 and accs[best] < max(accs), f"not a telling run: {sims} {accs}"
    assert [v.is_best for v in validations] == [s > max(sims[:i], default=-2) for i, s in enumerate(sims)]
    assert events[-1].summary["best_stage"] == validations[best].stage
    ckpt = torch.load(tmp_path / "run" / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] == validations[best].step and ckpt["metrics"]["similarity"] == pytest.approx(sims[best])
    last = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert last["step"] == validations[-1].step != ckpt["step"]
    assert ckpt["config"]["embedder"] == str(embedder_file) and ckpt["arch"] == "edgeface"  # describes itself


def test_a_nan_batch_is_skipped_and_nan_after_nan_stops_the_run(five_each, embedder_file, tmp_path):
    def poison(at: set[int]):
        return lambda step, lr: torch.full_like(lr, math.nan) if step in at else lr

    cfg = config(five_each, embedder_file, stage2_epochs=2, eval_sizes=[])
    code, events = run_in_process(cfg, tmp_path / "once", batch_hook=poison({2}))
    assert code == 0 and events[-1].status == "completed"
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert any("step 2: NaN/Inf" in w.message and w.step == 2 for w in warnings)
    epochs = [e for e in events if e.kind == "epoch"]
    assert [e.skipped_batches for e in epochs] == [0, 1, 0]
    code, events = run_in_process(cfg, tmp_path / "twice", batch_hook=poison({2, 3}))
    assert code == 1
    error = next(e for e in events if isinstance(e, ErrorEvent))
    assert error.error_type == "nonfinite_loss" and error.step == 3
    assert events[-1].status == "failed"


def test_collapsed_embeddings_stop_the_run_with_a_warning_and_are_never_the_best(five_each, embedder_file,
                                                                                  tmp_path):
    # alignment all but alone, at a learning rate far too high: every face ends up on one point
    cfg = config(five_each, embedder_file, stage1_epochs=0, stage2_epochs=6, backbone_lr=0.05, head_lr_stage2=0.05,
                 weights={"arcface": 0.001, "alignment": 10.0}, patience=0, eval_sizes=[])
    code, events = run_in_process(cfg, tmp_path / "run")
    assert code == 0 and events[-1].status == "early_stopped"
    validations = [e for e in events if isinstance(e, Validation)]
    assert validations[-1].metrics["similarity"] > 0.99 and not validations[-1].is_best
    assert any(isinstance(e, WarningEvent) and "collapsed" in e.message for e in events)
    assert len(validations) < 6  # stopped at the collapse


def test_a_stopped_run_resumes_into_the_uninterrupted_run(five_each, embedder_file, tmp_path):
    cfg = config(five_each, embedder_file, stage2_epochs=2, eval_sizes=[])
    _, straight = run_in_process(cfg, tmp_path / "straight")
    holder: dict[str, Run] = {}

    def stop_after_first(step: int, stage: int) -> None:
        if step == 1:
            holder["run"].stop.set("test")

    stream = io.StringIO()
    holder["run"] = Run(tmp_path / "split", cfg, stream=stream)
    assert finetune.run(cfg, holder["run"], step_hook=stop_after_first) == 3  # stopped: resumable
    stream = io.StringIO()
    assert finetune.run(cfg, Run(tmp_path / "split", cfg, stream=stream, resume=True)) == 0
    resumed = [e for e in map(parse_event, stream.getvalue().splitlines()) if e.kind != "prepare"]
    assert resumed[0].start_step == 1 and resumed[0].resumed
    losses = lambda events: {(e.step, k): v for e in events if e.kind == "step" for k, v in e.losses.items()}  # noqa: E731
    assert {k: v for k, v in losses(straight).items() if k[0] > 1} == pytest.approx(losses(resumed))
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k]) for k in a)


def test_the_command_line_runs_the_job_and_writes_its_config(five_each, embedder_file, tmp_path):
    import yaml

    cfg_path = tmp_path / "ft.yaml"
    cfg_path.write_text(yaml.safe_dump({**TINY, "data": str(five_each), "embedder": str(embedder_file),
                                        "max_steps": 2, "eval_sizes": []}))
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "trainer", "finetune", "--config", str(cfg_path), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    events = [e for e in map(parse_event, done.stdout.splitlines()) if e.kind != "prepare"]
    assert events[0].job == "finetune" and events[0].total_steps == 2 and events[-1].status == "completed"
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["head_lr"] == 1e-4 and saved["arcface_margin"] == 0.3 and saved["weights"]["alignment"] == 0.3
    assert json.loads((out / "split.json").read_text())["classes"] == sorted(p.name for p in five_each.iterdir())[:3]


@pytest.mark.parametrize("allowed_drop, kept", [(0.05, False), (0.2, True)])
def test_a_model_worse_at_full_resolution_than_the_untuned_one_is_never_the_best(
        five_each, embedder_file, tmp_path, monkeypatch, allowed_drop, kept):
    calls = []

    def verification(hr, low, pairs, labels):  # the untuned model: 1.0 at full resolution; later ones 0.9
        calls.append(hr is low)
        return 1.0 if len(calls) == 1 else (0.9 if hr is low else 0.5)

    monkeypatch.setattr(finetune, "verification_accuracy", verification)
    cfg = config(five_each, embedder_file, eval_sizes=[], max_hr_drop=allowed_drop)
    code, events = run_in_process(cfg, tmp_path / "run")
    assert code == 0 and calls[0] is True
    validations = [e for e in events if isinstance(e, Validation)]
    assert [v.metrics["verification_hr"] for v in validations] == [0.9, 0.9]
    assert [v.is_best for v in validations][0] is kept
    assert (tmp_path / "run" / "best.pt").exists() is kept


def test_patience_counts_only_stage_two_validations(five_each, embedder_file, tmp_path, monkeypatch):
    calls = []

    def verification(hr, low, pairs, labels):  # the untuned model 1.0; every validation fails the HR guard
        calls.append(1)
        return 1.0 if len(calls) == 1 else 0.5

    monkeypatch.setattr(finetune, "verification_accuracy", verification)
    cfg = config(five_each, embedder_file, eval_sizes=[], stage1_epochs=3, stage2_epochs=4, patience=2)
    code, events = run_in_process(cfg, tmp_path / "run")
    validations = [e for e in events if isinstance(e, Validation)]
    assert code == 0 and not any(v.is_best for v in validations)
    # three stage-1 validations do not use up the patience: stage 2 gets its two before stopping
    assert [v.stage for v in validations] == [1, 1, 1, 2, 2]
    assert events[-1].status == "early_stopped"


def test_the_final_comparison_runs_a_pairs_benchmark_when_one_is_given(five_each, embedder_file, tiny_pairs,
                                                                        tmp_path):
    cfg = config(five_each, embedder_file, benchmark=str(tiny_pairs))
    code, events = run_in_process(cfg, tmp_path / "run")
    assert code == 0
    benchmark = events[-1].summary["evaluation"]["benchmark"]
    assert benchmark["data"] == str(tiny_pairs)
    for name in ("base", "tuned"):
        assert set(benchmark["models"][name]) == {"hr", "16px"}
        assert all(0.0 <= v <= 1.0 for v in benchmark["models"][name].values())
    assert any(e.kind == "step" and (e.phase or "").startswith("benchmark:tuned:") for e in events)
    cfg = config(five_each, embedder_file, benchmark=str(tmp_path / "absent"))
    code, events = run_in_process(cfg, tmp_path / "run2")
    assert code == 0 and events[-1].summary["evaluation"]["benchmark"] is None
    assert any(isinstance(e, WarningEvent) and "absent holds no pairs.txt" in e.message for e in events)
