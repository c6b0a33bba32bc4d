"""Fixtures for the desktop tests: an AppContext over a fresh database with the default models
loaded once per test session, and the main window around it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from core.storage.db import Database
from core.gallery.store import Gallery
from desktop.config import DesktopConfig
from desktop.context import AppContext
from desktop.gc_guard import collect_on_gui_thread
from desktop.notifier import Notifier
from desktop.tasks import TaskRunner
from tests.conftest import shared_path


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread(qapp):
    """Garbage is collected on the GUI thread only (desktop.gc_guard, as in the app), and after each
    test: a cycle holding Qt objects collected on a worker thread crashes Qt."""
    collect_on_gui_thread(qapp)
    yield
    gc.collect()


@pytest.fixture(scope="session")
def default_pipeline():
    from core.vision.pipeline import build_pipeline

    return build_pipeline()


@pytest.fixture
def make_ctx(tmp_path: Path, default_pipeline, qapp):
    """make_ctx(**config) -> AppContext with its own data folder and settings file, models loaded."""
    made: list[AppContext] = []

    def make(**config: object) -> AppContext:
        folder = tmp_path / f"data{len(made)}"
        cfg = DesktopConfig(data_folder=str(folder), operator="tester").replace(**config)
        notifier = Notifier()
        ctx = AppContext(cfg, notifier, TaskRunner(notifier), config_file=folder / "desktop.json")
        with Database(ctx.db_path) as db:
            Gallery(db).activate_model(default_pipeline.embedder)
        ctx.set_pipeline(default_pipeline)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.tasks.wait(30000)
        ctx.db.close()


@pytest.fixture
def ctx(make_ctx) -> AppContext:
    return make_ctx()


@pytest.fixture
def refs() -> Path:
    """The two hamilton reference photos' folder (skips without ../shared)."""
    return shared_path("video", "hamilton_refs")


def open_wizard(ctx: AppContext, qtbot, name: str = "", **details: str):
    """The enrolment wizard, shown, with its details filled in."""
    from desktop.enrol_wizard import EnrolWizard

    wizard = EnrolWizard(ctx)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.name_edit.setText(name)
    wizard.external_id_edit.setText(details.get("external_id", ""))
    wizard.group_edit.setText(details.get("group", ""))
    wizard.notes_edit.setPlainText(details.get("notes", ""))
    return wizard


def add_and_wait(wizard, qtbot, *paths: Path) -> None:
    """Add photos to the wizard and wait until every one has been checked."""
    wizard.add_photos([str(p) for p in paths])
    qtbot.waitUntil(lambda: wizard.candidates.pending == 0, timeout=30_000)


def errors(ctx: AppContext) -> list[str]:
    """Everything the notifier reported as an error, as 'title: text'."""
    return [f"{n.title}: {n.text}" for n in ctx.notifier.history if n.level == "error"]


def enrol_photos(ctx: AppContext, name: str, *photos: Path) -> int:
    """Enrol a person through the service on the GUI thread (for tests whose subject is not enrolment;
    the views follow through the context's bridge); returns the id."""
    enroller = ctx.service.enroller()
    verdicts = [enroller.check_file(p) for p in photos]
    assert all(v.ok for v in verdicts), [v.reason for v in verdicts]
    return ctx.service.enrol(name, verdicts).id
