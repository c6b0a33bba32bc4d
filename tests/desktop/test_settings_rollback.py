"""Settings > Recognition model > "Roll back to …": returns to the model active before the current one
(a fine-tuned model promoted, say), reloads the engine, and reports a missing model file."""

from __future__ import annotations

import pytest

from core.gallery.lifecycle import install_model_file, promote
from core.vision.models.loading import load_embedder
from core.vision.pipeline import FacePipeline
from desktop.pages.settings.model import MODEL_TITLE
from tests.desktop.conftest import errors
from tests.desktop.review_fixtures import candidate_file, small_site, wait_task
from tests.desktop.test_settings_page import page  # noqa: F401 - the Settings page fixture


@pytest.fixture
def promoted(ctx, tmp_path):
    """(the model before, the one promoted in its place): as the Training tab's Promote leaves them."""
    base = small_site(ctx, tmp_path)
    before = ctx.gallery.active_model()
    installed = install_model_file(candidate_file(tmp_path / "run" / "best.pt"), tmp_path / "models", "tuned")
    tuned = load_embedder(installed)
    promote(ctx.gallery, tuned)
    ctx.set_pipeline(FacePipeline(ctx.pipeline.detector, tuned))
    ctx.gallery_changed.emit()
    assert base.source == before.source
    return before, ctx.gallery.active_model()


def test_roll_back_restores_the_model_active_before(ctx, page, promoted, qtbot):
    before, tuned = promoted
    detector = ctx.pipeline.detector
    assert page.rollback_button.isEnabled() and page.rollback_button.text() == f"Roll back to {before.name}"
    task = page.roll_back_model()
    assert task is not None and page.progress_dialog is not None and not page.rollback_button.isEnabled()
    wait_task(qtbot, task)
    assert errors(ctx) == [] and page.progress_dialog is None

    assert ctx.gallery.active_model() == before and ctx.gallery.previous_model() == tuned
    assert ctx.pipeline.embedder.source == before.source and ctx.pipeline.embedder.name == before.name
    assert ctx.pipeline.detector is detector
    assert page.rollback_button.isEnabled() and page.rollback_button.text() == f"Roll back to {tuned.name}"
    assert before.name in page.model_label.text()
    said = [n.text for n in ctx.notifier.history if n.level == "info" and n.title == MODEL_TITLE]
    assert said and said[-1].startswith(f"rolled back to {before.name}") and tuned.name in said[-1]

    page.rollback_button.click()  # and forward again
    wait_task(qtbot, page.model_task)
    assert ctx.gallery.active_model() == tuned and ctx.pipeline.embedder.source == tuned.source


def test_a_missing_model_file_is_reported_and_nothing_changes(ctx, page, promoted, qtbot, tmp_path):
    before, tuned = promoted
    embedder = ctx.pipeline.embedder
    (tmp_path / "base.pt").unlink()
    task = page.roll_back_model()
    wait_task(qtbot, task)
    reported = errors(ctx)
    assert len(reported) == 1 and reported[0].startswith(MODEL_TITLE) and str(tmp_path / "base.pt") in reported[0]
    assert "missing" in reported[0]
    assert ctx.gallery.active_model() == tuned and ctx.pipeline.embedder is embedder
    assert page.rollback_button.isEnabled()  # it can be tried again once the file is back


def test_without_an_earlier_model_there_is_nothing_to_roll_back(ctx, page):
    assert ctx.gallery.previous_model() is None
    assert not page.rollback_button.isEnabled() and page.rollback_button.text() == "Roll back"
    assert page.roll_back_model() is None and "no earlier model" in errors(ctx)[-1]
