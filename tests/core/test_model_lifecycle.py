"""Adopting a fine-tuned model: evaluate beside the active one, promote atomically, roll back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from core.storage.db import Database
from core.errors import RollcallError
from core.gallery.store import Gallery
from core.gallery.faces import model_crops
from core.gallery.lifecycle import (
    NothingToRollBackError, evaluate_candidate, gallery_scores, install_model_file, promote, roll_back,
)
from core.vision.models.checkpoint import make_checkpoint, save_atomic
from core.vision.models.edgeface import EdgeFace
from core.vision.models.loading import load_embedder
from tests.conftest import REPO
from tests.core.gallery_fixtures import synthetic_sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def model_file(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    return save_atomic(make_checkpoint(EdgeFace(dims=(8, 16, 24, 32), depths=(1, 1, 1, 1), heads=(2, 2, 2, 2),
                                                embedding_dim=32)), path)


@pytest.fixture()
def site(tmp_path: Path) -> tuple[Path, Path, Path, np.ndarray]:
    """A gallery of 4 people x 3 samples on model A (a file), model B's file beside it, and A's templates."""
    a_path, b_path = model_file(tmp_path / "a.pt", 0), model_file(tmp_path / "b.pt", 1)
    db = tmp_path / "g.db"
    a = load_embedder(a_path)
    with Database(db) as database:
        gallery = Gallery(database)
        model_a = gallery.activate_model(a)
        for p in range(4):
            samples = [synthetic_sample(p * 10 + i) for i in range(3)]
            gallery.add_person(f"P{p}", samples, a.embed(model_crops(a, [(s.face, s.landmarks) for s in samples])),
                               model_a)
        templates = gallery.templates(model_a.id)[2].copy()
    return db, a_path, b_path, templates


def test_evaluating_a_candidate_scores_both_models_and_switches_nothing(site):
    db, a_path, b_path, _ = site
    with Database(db) as database:
        gallery = Gallery(database)
        active = gallery.active_model()
        comparison = evaluate_candidate(gallery, load_embedder(b_path))
        assert gallery.active_model() == active and gallery.previous_model() is None
        assert comparison.active.model_id == active.id and comparison.candidate.model_id != active.id
        for scores in (comparison.active, comparison.candidate):
            assert (scores.people, scores.samples, scores.genuine_pairs, scores.impostor_pairs) == (4, 12, 12, 54)
            assert -1 <= scores.impostor_mean <= 1 and -1 <= scores.genuine_mean <= 1
            assert 0 <= scores.eer <= 1 and 0 <= scores.far <= 1 and 0 <= scores.frr <= 1
        assert gallery.missing_embeddings(comparison.candidate.model_id) == []  # promotion will only switch


def test_gallery_scores_separate_people_when_the_embeddings_do(tmp_path):
    with Database(tmp_path / "g.db") as database:
        gallery = Gallery(database)
        a = load_embedder(model_file(tmp_path / "a.pt", 0))
        model = gallery.activate_model(a)
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(3, 32))
        for p in range(3):  # each person's samples near their own centre: genuine scores near 1
            vectors = centres[p] + 0.05 * rng.normal(size=(4, 32))
            gallery.add_person(f"P{p}", [synthetic_sample(p * 10 + i) for i in range(4)], vectors, model)
        scores = gallery_scores(gallery, model.id)
        assert scores.genuine_mean > 0.99 and scores.impostor_mean < 0.9 and scores.eer == 0.0
        assert scores.d_prime > 5


def test_promote_then_roll_back_restore_the_old_model_and_its_templates(site):
    db, a_path, b_path, templates_a = site
    with Database(db) as database:
        gallery = Gallery(database)
        model_a = gallery.active_model()
        model_b = promote(gallery, load_embedder(b_path))
        assert gallery.active_model() == model_b and gallery.previous_model() == model_a
        assert len(gallery.templates(model_b.id)[0]) == 4
        back, embedder = roll_back(gallery)
        assert embedder.identity == model_a.file_hash
        assert back == model_a and gallery.active_model() == model_a and gallery.previous_model() == model_b
        assert np.array_equal(gallery.templates(model_a.id)[2], templates_a)
        assert roll_back(gallery)[0] == model_b  # and forward again


def test_roll_back_embeds_people_enrolled_since_for_the_old_model(site):
    db, a_path, b_path, _ = site
    with Database(db) as database:
        gallery = Gallery(database)
        model_a = gallery.active_model()
        b = load_embedder(b_path)
        model_b = promote(gallery, b)
        samples = [synthetic_sample(100 + i) for i in range(2)]
        gallery.add_person("New", samples, b.embed(model_crops(b, [(s.face, s.landmarks) for s in samples])), model_b)
        roll_back(gallery)
        ids, names, _ = gallery.templates(model_a.id)
        assert "New" in names and len(ids) == 5


def test_nothing_to_roll_back_and_a_missing_or_changed_file_are_clear_errors(site):
    db, a_path, b_path, _ = site
    with Database(db) as database:
        gallery = Gallery(database)
        with pytest.raises(NothingToRollBackError, match="no earlier model"):
            roll_back(gallery)
        model_a = gallery.active_model()
        promote(gallery, load_embedder(b_path))
        model_file(a_path, 7)  # other weights under A's name
        with pytest.raises(RollcallError, match="a.pt has changed since model"):
            roll_back(gallery)
        a_path.unlink()
        with pytest.raises(RollcallError, match="a.pt, is missing"):
            roll_back(gallery)
        assert gallery.active_model() != model_a  # nothing switched


def test_a_kill_during_promotion_leaves_the_old_model_active_and_a_retry_completes(site):
    db, a_path, b_path, templates_a = site
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from core.storage.db import Database
        from core.gallery.store import Gallery
        from core.gallery.lifecycle import promote
        from core.vision.models.loading import load_embedder

        gallery = Gallery(Database({str(db)!r}))
        def progress(done, total):
            if done >= 3:  # the first batches are stored; the switch has not happened
                print("mid-write", flush=True)
                time.sleep(60)
        original = gallery.embed_samples
        gallery.embed_samples = lambda e, **kw: original(e, **{{**kw, "batch_size": 3}})
        promote(gallery, load_embedder({str(b_path)!r}), progress=progress)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "mid-write", proc.stderr.read()
        proc.kill()
    finally:
        proc.wait(timeout=30)
    with Database(db) as database:
        gallery = Gallery(database)
        model_a = gallery.active_model()
        assert model_a.source == str(a_path) and gallery.previous_model() is None
        assert np.array_equal(gallery.templates(model_a.id)[2], templates_a)
        b = load_embedder(b_path)
        model_b = gallery.register_model(b)
        assert len(gallery.templates(model_b.id)[0]) == 0  # no template of the half-promoted model
        assert 0 < len(gallery.missing_embeddings(model_b.id)) < 12  # what was stored before the kill is kept
        assert promote(gallery, b) == model_b and gallery.previous_model() == model_a
        assert len(gallery.templates(model_b.id)[0]) == 4


def test_installing_a_model_file_copies_it_once_and_never_overwrites_another(tmp_path):
    best = model_file(tmp_path / "run" / "best.pt", 0)
    models = tmp_path / "data" / "models"
    first = install_model_file(best, models, "finetuned-20261201 run")
    assert first == models / "finetuned-20261201_run.pt" and first.read_bytes() == best.read_bytes()
    assert install_model_file(best, models, "finetuned-20261201 run") == first  # same bytes: reused
    other = model_file(tmp_path / "run2" / "best.pt", 1)
    second = install_model_file(other, models, "finetuned-20261201 run")
    assert second == models / "finetuned-20261201_run-2.pt" and first.read_bytes() == best.read_bytes()
    assert load_embedder(second).identity == load_embedder(other).identity
    with pytest.raises(RollcallError, match="does not exist"):
        install_model_file(tmp_path / "nope.pt", models, "x")


def test_a_model_file_found_at_a_new_place_updates_where_the_gallery_looks(site, tmp_path):
    db, a_path, b_path, _ = site
    with Database(db) as database:
        gallery = Gallery(database)
        model_b = gallery.register_model(load_embedder(b_path))
        moved = b_path.rename(tmp_path / "moved_b.pt")
        assert gallery.register_model(load_embedder(moved)).source == str(moved)
        assert gallery.model(model_b.id).source == str(moved)
        copy = install_model_file(moved, tmp_path / "models", "b")  # both exist: the first place stays
        assert gallery.register_model(load_embedder(copy)).source == str(moved)
