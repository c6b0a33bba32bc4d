"""The Training tab's "Recognition model fine-tuning" job: the form writes a finetune config the trainer
accepts, a replayed run fills both stages' charts, and a finished run's best.pt is offered for review."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.vision.models.checkpoint import make_checkpoint, save_atomic
from core.vision.models.dsr import DSRNet
from desktop.pages.training_page import TrainingPage
from desktop.trainer_process import finetune_command
from tests.desktop.conftest import errors
from tests.desktop.review_fixtures import candidate_file, finetune_events, replay_command, small_site, wait_task
from trainer.config import load_config


@pytest.fixture
def dsr(tmp_path) -> Path:
    return save_atomic(make_checkpoint(DSRNet(channels=8, blocks=1, up_channels=4), step=2), tmp_path / "dsr.pt")


@pytest.fixture
def page_for(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLCALL_DATA_DIR", str(tmp_path / "userdata"))
    pages = []

    def make(ctx) -> TrainingPage:
        page = TrainingPage(ctx)
        qtbot.addWidget(page)
        page.resize(1200, 900)
        page.show()
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.shutdown()


def choose_finetune(page: TrainingPage, out: Path) -> None:
    page.job_combo.setCurrentIndex(page.job_combo.findData("finetune"))
    page.out_edit.setText(str(out))
    page.device_combo.setCurrentIndex(page.device_combo.findData("cpu"))


def wait_ended(qtbot, page: TrainingPage) -> None:
    qtbot.waitUntil(lambda: not page.process.is_running() and page.state not in ("starting", "running", "stopping"),
                    timeout=30_000)


def test_the_form_writes_a_finetune_config_from_the_app_s_models(make_ctx, page_for, dsr, tmp_path, qtbot):
    ctx = make_ctx(sr_model=str(dsr))
    base = small_site(ctx, tmp_path)
    page = page_for(ctx)
    assert page.embedder_row.isVisible() and not page.base_row.isVisible()  # DSR is the default job
    choose_finetune(page, tmp_path / "run")
    assert page.base_row.isVisible() and page.sr_row.isVisible() and page.stage1_spin.isVisible()
    assert not page.embedder_row.isVisible() and not page.epochs_spin.isVisible()
    assert page.charts == page.ft_charts and page.review.isVisible() and not page.use_row.isVisible()
    # defaults: the gallery's active model, the DSR of Settings > Small faces, the trainer's stage epochs
    assert page.base_edit.text() == base.source and page.sr_edit.text() == str(dsr)
    assert (page.stage1_spin.value(), page.stage2_spin.value()) == (5, 30)

    manifest = tmp_path / "dataset" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}", encoding="utf-8")  # the page checks it exists; the trainer reads it
    page.source_combo.setCurrentIndex(page.source_combo.findData("manifest"))
    page.data_edit.setText(str(manifest))
    page.stage2_spin.setValue(12)
    page.minutes_spin.setValue(7.5)
    bench = tmp_path / "pairs"
    (bench / "images").mkdir(parents=True)
    (bench / "pairs.txt").write_text("a.jpg b.jpg 1\n", encoding="utf-8")
    page.bench_edit.setText(str(bench))
    commands = []
    page.command_factory = lambda run_dir, resume, minutes: commands.append(
        finetune_command(run_dir, resume, minutes)) or replay_command(finetune_events(run_dir, None))
    assert page.start_training()
    wait_ended(qtbot, page)
    assert errors(ctx) == []

    config = load_config("finetune", tmp_path / "run" / "config.yaml")  # as the trainer reads it
    assert config.data == str(manifest) and config.embedder == base.source and config.dsr == str(dsr)
    assert (config.stage1_epochs, config.stage2_epochs, config.device, config.max_minutes) == (5, 12, "cpu", 7.5)
    assert config.benchmark == str(bench)
    # the training faces imitate the landmark error of the app's detector (MTCNN here)
    assert ctx.config.detector == "mtcnn" and (config.landmark_jitter_px, config.landmark_shift_px) == (0.4, 0.5)
    assert commands[0][-7:] == ["finetune", "--config", str(tmp_path / "run" / "config.yaml"), "--out",
                                str(tmp_path / "run"), "--max-minutes", "7.5"]
    assert page.job_command(tmp_path / "run", True, None)[-3:] == ["finetune", "--resume", str(tmp_path / "run")]


def test_the_built_in_model_is_named_dlib_and_unedited_defaults_follow_the_app(make_ctx, page_for, dsr, tmp_path):
    ctx = make_ctx(sr_below_px=0)  # route off: choosing a DSR model here reloads nothing
    page = page_for(ctx)
    assert page.base_edit.text() == "dlib" and page.sr_edit.text() == ""
    ctx.update_config(sr_model=str(dsr))
    assert page.sr_edit.text() == str(dsr)
    page.sr_edit.setText("")
    page.sr_edit.textEdited.emit("")  # the operator cleared it: bicubic, and it stays so
    ctx.update_config(sr_model="")
    ctx.update_config(sr_model=str(dsr))
    assert page.sr_edit.text() == ""
    small_site(ctx, tmp_path)
    assert page.base_edit.text() == str(tmp_path / "base.pt")


def test_bad_fine_tuning_settings_are_refused_before_anything_starts(ctx, page_for, tmp_path):
    page = page_for(ctx)
    choose_finetune(page, tmp_path / "run")
    page.source_combo.setCurrentIndex(page.source_combo.findData("gallery"))
    assert not page.data_row.isEnabled()
    assert not page.start_training()
    assert "at least 2 people with 5 or more photos" in errors(ctx)[-1]
    page.source_combo.setCurrentIndex(page.source_combo.findData("manifest"))
    page.data_edit.setText(str(tmp_path / "missing.json"))
    assert not page.start_training()
    assert "manifest" in errors(ctx)[-1] and "does not exist" in errors(ctx)[-1]
    (tmp_path / "faces").mkdir()
    page.source_combo.setCurrentIndex(page.source_combo.findData("folder"))
    page.data_edit.setText(str(tmp_path / "faces"))
    page.sr_edit.setText(str(tmp_path / "gone.pt"))
    assert not page.start_training()
    assert "DSR checkpoint" in errors(ctx)[-1] and "gone.pt" in errors(ctx)[-1]
    page.sr_edit.setText("")
    page.bench_edit.setText(str(tmp_path / "faces"))  # a folder, but no pairs.txt in it
    assert not page.start_training()
    assert "holds no pairs.txt" in errors(ctx)[-1]
    page.bench_edit.setText("")
    page.extra_config = {"stage1_epochs": 0, "stage2_epochs": 0}
    assert not page.start_training()
    assert "stage1_epochs" in errors(ctx)[-1]
    assert not page.process.is_running() and page.state == "idle"


def test_a_replayed_run_fills_both_stages_charts_and_offers_the_comparison(ctx, page_for, qtbot, tmp_path):
    small_site(ctx, tmp_path)
    page = page_for(ctx)
    run = tmp_path / "run"
    best = candidate_file(tmp_path / "trained" / "best.pt")  # the stand-in trainer writes no files
    choose_finetune(page, run)
    page.data_edit.setText(str(tmp_path))
    page.command_factory = lambda run_dir, resume, minutes: replay_command(
        finetune_events(run_dir, best, status="early_stopped"))
    assert page.start_training()
    wait_ended(qtbot, page)
    assert page.state == "early_stopped" and errors(ctx) == []

    for chart in page.ft_loss_charts.values():  # stage 1: steps 1-2, stage 2: steps 3-6
        assert chart.point_count("stage 1") == 2 and chart.point_count("stage 2") == 4
    assert [x for x, _ in page.ft_loss_charts["arcface"].series["stage 2"]] == [3, 4, 5, 6]
    assert page.ft_lr_chart.point_count("stage 1") == 2
    similarity = page.ft_val_charts["similarity"].series  # one point per epoch, x = the epoch number
    assert similarity["stage 1"] == [(1, 0.3)] and [x for x, _ in similarity["stage 2"]] == [2, 3]
    assert page.ft_val_charts["accuracy"].point_count("stage 1") == 0  # null: not plotted
    assert page.ft_val_charts["verification_hr"].point_count("stage 2") == 2
    assert all(chart.point_count() == 0 for chart in page.dsr_charts)
    assert all(chart.repaints >= 1 for chart in page.ft_charts)
    assert page.chart_stack.currentIndex() == 1 and page.charts == page.ft_charts
    assert "SR–HR similarity stopped improving" in page.status_label.text()
    summary = page.summary_label.text()
    assert "SR–HR similarity stopped improving" in summary and "Best SR–HR similarity: 0.3200" in summary
    assert "16 px faces 70.0 % → 80.0 %" in summary and "best.pt is from stage 1" not in summary
    log = page.log_view.toPlainText()
    assert "[stage] stage 1 of 2" in log and "[stage] stage 2 of 2: the whole model, from step 3" in log

    assert not page.use_button.isEnabled()  # a recognition model is not a DSR
    assert page.review.best == best and page.review.compare_button.isEnabled()
    assert not page.review.promote_button.isEnabled()  # only after a comparison
    task = page.review.compare()
    wait_task(qtbot, task)
    assert page.review.comparison is not None and page.review.promote_button.isEnabled()
    assert errors(ctx) == []


def test_a_run_that_failed_or_has_no_best_offers_nothing(ctx, page_for, qtbot, tmp_path):
    page = page_for(ctx)
    choose_finetune(page, tmp_path / "run")
    page.data_edit.setText(str(tmp_path))
    page.command_factory = lambda run_dir, resume, minutes: replay_command(finetune_events(run_dir, None))
    assert page.start_training()
    wait_ended(qtbot, page)
    assert page.state == "completed" and page.review.best is None
    assert not page.review.compare_button.isEnabled() and not page.review.promote_button.isEnabled()
    assert not page.use_model() and "not a DSR" in errors(ctx)[-1]


def test_a_best_checkpoint_from_stage_one_is_said_to_be_the_untuned_model(ctx, page_for, qtbot, tmp_path):
    page = page_for(ctx)
    run_dir = tmp_path / "run"
    choose_finetune(page, run_dir)
    for event in finetune_events(run_dir, None, best_stage=1):
        page._on_event(event)
    assert "best.pt is from stage 1" in page.summary_label.text()
    assert "promoting it would change nothing" in page.summary_label.text()
