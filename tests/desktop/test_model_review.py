"""Reviewing a fine-tuned model: the comparison puts both models' numbers side by side, promoting it
switches the gallery and the engine (the old model becomes the one to roll back to), and a cancelled
promotion leaves the old model active."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from core.gallery import lifecycle
from core.storage.backup import backup_folder, list_backups
from core.gallery.lifecycle import Comparison, GalleryScores
from desktop import model_review
from desktop.model_review import ComparisonTableModel, ModelReview, comparison_rows
from tests.desktop.conftest import errors
from tests.desktop.review_fixtures import EVALUATION, candidate_file, enrol, small_site, wait_task

RUN = "20990101-000000"


@pytest.fixture
def site(ctx, qtbot, tmp_path):
    """(ctx, the active model's embedder, the review of a finished run whose best.pt is another model)."""
    base = small_site(ctx, tmp_path)
    run = tmp_path / "training" / RUN
    best = candidate_file(run / "best.pt")
    review = ModelReview(ctx)
    review.set_run(run, best, {**EVALUATION, "models": {**EVALUATION["models"],
                                                      "base": {**EVALUATION["models"]["base"], "source": base.source}}})
    qtbot.addWidget(review)
    review.show()
    return ctx, base, review


def cells(review: ModelReview) -> dict[str, tuple[str, str]]:
    model = review.table_model
    return {model.data(model.index(r, 0)): (model.data(model.index(r, 1)), model.data(model.index(r, 2)))
            for r in range(model.rowCount())}


def number(text: str) -> float:
    return float(text.replace("%", "").strip())


def compared(qtbot, review: ModelReview) -> None:
    task = review.compare()
    assert task is not None
    wait_task(qtbot, task)
    assert review.comparison is not None


def test_compare_shows_both_models_side_by_side(site, qtbot, tmp_path):
    ctx, base, review = site
    active = ctx.gallery.active_model()
    assert not review.promote_button.isEnabled() and not review.table.isVisible()
    task = review.compare()
    assert review.progress_dialog is not None and review.progress_dialog.isVisible()
    assert not review.compare_button.isEnabled()
    wait_task(qtbot, task)
    assert errors(ctx) == [] and review.progress_dialog is None and review.table.isVisible()

    table = cells(review)
    installed = ctx.config.db_path.parent / "models" / f"finetuned-{RUN}.pt"  # the data folder's models folder
    assert installed.is_file() and (tmp_path / "training" / RUN / "best.pt").is_file()
    assert table["Model"] == (active.name, f"finetuned-{RUN}")
    assert table["Gallery: people / samples"] == ("3 / 6", "3 / 6")
    assert table["Gallery: genuine / impostor pairs"] == ("3 / 12", "3 / 12")
    for row in ("Gallery: genuine mean", "Gallery: impostor mean", "Gallery: d′", "Gallery: EER",
                "Gallery: FAR at the threshold", "Gallery: FRR at the threshold"):
        a, c = table[row]
        number(a), number(c)  # both columns hold numbers
    assert table["Validation split: images / pairs"] == ("10 / 10", "10 / 10")
    assert table["Validation split: verification, full resolution"] == ("90.0 %", "90.0 %")
    assert table["Validation split: verification, 12 px faces"] == ("60.0 %", "70.0 %")
    assert table["Validation split: verification, 24 px faces"] == ("80.0 %", "–")
    assert list(table)[-4:] == [f"Validation split: verification, {n} px faces" for n in (12, 16, 24, 32)]
    # evaluating switched nothing; the candidate's embeddings are kept for the promotion
    assert ctx.gallery.active_model() == active and ctx.pipeline.embedder is base
    candidate = ctx.gallery.model(review.comparison.candidate.model_id)
    assert candidate.source == str(installed) and ctx.gallery.missing_embeddings(candidate.id) == []
    assert review.promote_button.isEnabled() and review.compare_button.isEnabled()
    assert "run fine-tuned" not in review.note.text()  # the run started from the active model


def test_the_table_marks_the_better_value_and_explains_rows():
    def scores(model_id, genuine, eer):
        return GalleryScores(model_id, f"m{model_id}", 3, 6, 3, 12, genuine, 0.1, 2.0, eer, 0.5, 0.0, 0.1)

    model = ComparisonTableModel()
    model.set_records(comparison_rows(Comparison(scores(1, 0.6, 0.2), scores(2, 0.7, 0.1)), None))
    labels = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    assert not any(label.startswith("Validation") for label in labels)  # no evaluation: gallery rows only
    genuine, eer = labels.index("Gallery: genuine mean"), labels.index("Gallery: EER")
    bold = Qt.ItemDataRole.FontRole
    assert model.data(model.index(genuine, 2), bold).bold() and model.data(model.index(genuine, 1), bold) is None
    assert model.data(model.index(eer, 2), bold).bold()  # lower is better
    assert model.data(model.index(eer, 1)) == "20.0 %"
    assert model.data(model.index(genuine, 0), Qt.ItemDataRole.ToolTipRole)
    none_active = comparison_rows(Comparison(None, scores(2, None, None)), EVALUATION)
    assert none_active[0].shown(none_active[0].active) == "–"


def test_promote_switches_the_gallery_and_the_engine(site, qtbot, tmp_path):
    ctx, base, review = site
    old, detector = ctx.gallery.active_model(), ctx.pipeline.detector
    assert review.promote() is None and "Compare" in ctx.notifier.history[-1].text  # not before a comparison
    compared(qtbot, review)
    promoted = []
    review.promoted.connect(promoted.append)
    task = review.promote()
    assert review.progress_dialog is not None and not review.promote_button.isEnabled()
    wait_task(qtbot, task)
    assert errors(ctx) == []

    installed = ctx.config.db_path.parent / "models" / f"finetuned-{RUN}.pt"
    active = ctx.gallery.active_model()
    assert active.name == f"finetuned-{RUN}" and active.source == str(installed)
    assert ctx.gallery.previous_model() == old
    assert ctx.pipeline.embedder.source == str(installed) and ctx.pipeline.detector is detector
    # through the service's promote: the database was backed up first
    assert [b.reason for b in list_backups(backup_folder(ctx.db_path))] == ["before-promotion"]
    assert promoted == [active.name]
    said = [n.text for n in ctx.notifier.history if n.level == "info" and n.title == model_review.PROMOTE_TITLE]
    assert said and f"Roll back to {old.name}" in said[-1] and "Settings > Recognition model" in said[-1]
    assert not review.promote_button.isEnabled() and "is the active model" in review.note.text()
    assert list(installed.parent.iterdir()) == [installed]  # installing again reused the copy


def test_promotion_asks_for_the_admin_pin_when_one_is_set(site, qtbot, monkeypatch):
    ctx, base, review = site
    compared(qtbot, review)
    ctx.service.set_admin_pin("2468")
    asked = []
    monkeypatch.setattr(model_review, "admin_allows", lambda parent, c, action: asked.append(action) or False)
    old = ctx.gallery.active_model()
    assert review.promote() is None  # refused at the PIN: nothing starts
    assert asked == ["Promoting a recognition model"] and ctx.gallery.active_model() == old


def test_cancelling_the_promotion_leaves_the_old_model_active(site, qtbot, monkeypatch):
    ctx, base, review = site
    compared(qtbot, review)
    enrol(ctx, base, "Di", seed=7)  # enrolled after the comparison: the promotion has faces to embed
    old, embedder = ctx.gallery.active_model(), ctx.pipeline.embedder
    real_promote = lifecycle.promote  # what the service's promote runs

    def operator_cancels_midway(gallery, candidate, **kwargs):
        review.task.cancel()  # what the dialog's Cancel does (a thread-safe flag), while the promotion runs
        return real_promote(gallery, candidate, **kwargs)

    monkeypatch.setattr(lifecycle, "promote", operator_cancels_midway)
    task = review.promote()
    wait_task(qtbot, task)
    assert task.cancel_requested.is_set() and task.error is None
    assert ctx.gallery.active_model() == old and ctx.pipeline.embedder is embedder
    assert any(n.title == model_review.PROMOTE_TITLE and n.text == "cancelled" for n in ctx.notifier.history)
    assert errors(ctx) == [] and review.promote_button.isEnabled()

    # the dialog's Cancel button, pressed at once, switches nothing either
    monkeypatch.setattr(lifecycle, "promote", real_promote)
    task = review.promote()
    cancel = review.progress_dialog.findChild(QPushButton)
    assert cancel is not None and cancel.text() == "Cancel"
    cancel.click()
    wait_task(qtbot, task)
    assert ctx.gallery.active_model() == old and ctx.pipeline.embedder is embedder

    task = review.promote()  # a later attempt completes
    wait_task(qtbot, task)
    assert ctx.gallery.active_model().name == f"finetuned-{RUN}" and ctx.gallery.previous_model() == old
    assert errors(ctx) == []


def test_a_missing_best_pt_is_reported(site, qtbot):
    ctx, _, review = site
    review.best.unlink()
    assert review.compare() is None
    assert "best.pt" in errors(ctx)[-1] and "missing" in errors(ctx)[-1]


def test_a_run_that_tuned_another_model_says_so(site, qtbot, tmp_path):
    ctx, _, review = site
    review.set_run(review.run_dir, review.best, EVALUATION | {"models": {"base": {"source": "dlib"}, "tuned": {}}})
    compared(qtbot, review)
    assert "The run fine-tuned dlib, not the active model" in review.note.text()
    assert isinstance(review.best, Path)


def test_a_pairs_benchmark_of_the_run_gets_its_own_rows():
    scores = GalleryScores(1, "m1", 3, 6, 3, 12, 0.6, 0.1, 2.0, 0.2, 0.5, 0.0, 0.1)
    evaluation = {"val_images": 10, "pairs": 10, "models": {"base": {"hr": 0.9}, "tuned": {"hr": 0.9}},
                  "benchmark": {"data": "/data/celeba", "models": {"base": {"hr": 0.957, "16px": 0.8295},
                                                                   "tuned": {"hr": 0.9615, "16px": 0.755}}}}
    model = ComparisonTableModel()
    model.set_records(comparison_rows(Comparison(scores, scores), evaluation))
    rows = {model.data(model.index(r, 0)): (model.data(model.index(r, 1)), model.data(model.index(r, 2)))
            for r in range(model.rowCount())}
    assert rows["Benchmark celeba: verification, full resolution"] == ("95.7 %", "96.2 %")
    assert rows["Benchmark celeba: verification, 16 px faces"] == ("83.0 %", "75.5 %")
