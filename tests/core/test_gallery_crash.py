"""A process killed in the middle of a gallery write leaves the database consistent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from core.storage.db import Database
from core.gallery.store import Gallery
from core.gallery.faces import model_crops
from tests.core.gallery_fixtures import synthetic_sample, tiny_embedder

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import sys, time
sys.path.insert(0, {repo!r})
import numpy as np
from core.storage.db import Database
from core.gallery.store import Gallery
from core.gallery.faces import FaceSample
from tests.core.gallery_fixtures import synthetic_sample, tiny_embedder, unit
gallery = Gallery(Database({db!r}))
"""


def _run_until_marker_then_kill(code: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "mid-write", f"the writer did not reach the write: {line!r} {proc.stderr.read()}"
        proc.kill()
    finally:
        proc.wait(timeout=30)


def test_kill_during_enrolment_leaves_no_half_enrolled_person(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    code = PRELUDE.format(repo=str(REPO), db=str(db)) + textwrap.dedent("""
        model = gallery.activate_model(tiny_embedder(0))
        original = FaceSample.jpeg
        calls = []
        def slow_jpeg(self):
            calls.append(1)
            if len(calls) == 5:  # four samples already inserted inside the transaction
                print("mid-write", flush=True)
                time.sleep(60)
            return original(self)
        FaceSample.jpeg = slow_jpeg
        gallery.add_person("Half", [synthetic_sample(i) for i in range(10)], unit(np.ones((10, 512))), model)
    """)
    _run_until_marker_then_kill(code)
    with Database(db) as database:
        counts = {t: database.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("people", "samples", "embeddings", "templates")}
        assert counts == {"people": 0, "samples": 0, "embeddings": 0, "templates": 0}
        # and the database is usable afterwards
        gallery = Gallery(database)
        model = gallery.active_model()
        gallery.add_person("Whole", [synthetic_sample(1)], np.ones((1, 512)) / np.sqrt(512), model)
        assert gallery.count_people() == 1


def test_kill_during_model_switch_leaves_the_old_model_whole(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    a = tiny_embedder(0)
    with Database(db) as database:
        gallery = Gallery(database)
        model_a = gallery.activate_model(a)
        for p in range(3):
            samples = [synthetic_sample(p * 10 + i) for i in range(2)]
            emb = a.embed(model_crops(a, [(s.face, s.landmarks) for s in samples]))
            gallery.add_person(f"P{p}", samples, emb, model_a)
        before = gallery.templates(model_a.id)[2].copy()

    code = PRELUDE.format(repo=str(REPO), db=str(db)) + textwrap.dedent("""
        b = tiny_embedder(1)
        original = type(b).embed
        calls = []
        def slow_embed(self, crops):
            calls.append(1)
            if len(calls) == 2:  # the first batch is committed, the second is being computed
                print("mid-write", flush=True)
                time.sleep(60)
            return original(self, crops)
        type(b).embed = slow_embed
        gallery.activate_model(b, batch_size=2)
    """)
    _run_until_marker_then_kill(code)

    b = tiny_embedder(1)
    with Database(db) as database:
        gallery = Gallery(database)
        assert gallery.active_model().id == model_a.id
        assert np.array_equal(gallery.templates(model_a.id)[2], before)
        model_b = gallery.register_model(b)
        assert len(gallery.templates(model_b.id)[0]) == 0  # no mixed-model templates
        gallery.activate_model(b)  # resumes and completes
        assert gallery.active_model().id == model_b.id and len(gallery.templates(model_b.id)[0]) == 3
