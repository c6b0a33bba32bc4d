"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest

from core.gallery.enrol import Enroller
from core.gallery.store import Gallery
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
