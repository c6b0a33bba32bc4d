"""Fixtures shared by the core tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.gallery.enrol import Enroller
from core.gallery.store import Gallery
from core.service import Changes, Rollcall
from core.storage.db import Database
from core.vision.pipeline import build_pipeline
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def hamilton_db(tmp_path_factory):
    """The two reference people enrolled with the default pipeline."""
    path = tmp_path_factory.mktemp("hamilton") / "g.db"
    pipeline = build_pipeline()
    with Database(path) as db:
        enroller = Enroller(pipeline, Gallery(db))
        for name in ("lin-manuel-miranda", "alex-lacamoire"):
            verdict = enroller.check_file(shared_path("video", "hamilton_refs", f"{name}.png"))
            assert verdict.ok, verdict.reason
            enroller.enrol(name, [verdict])
    return path, pipeline


@pytest.fixture
def service(tmp_path: Path):
    """A service over a fresh database file."""
    with Rollcall.open(tmp_path / "rollcall.db") as s:
        yield s


@pytest.fixture
def reports(service: Rollcall) -> list[Changes]:
    """The change reports `service` sends from now on."""
    seen: list[Changes] = []
    service.subscribe(seen.append)
    return seen
