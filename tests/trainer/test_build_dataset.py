"""build-dataset and the manifests it writes: small subjects dropped, 80/20 per subject, no leakage."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from core.errors import ConfigError
from tests.trainer.conftest import enrol_tiny_faces
from trainer.config import BuildDatasetConfig
from trainer.events import DatasetSummary, Finished, parse_event
from trainer.jobs import build_dataset
from trainer.manifest import LeakyManifestError, load_manifest
from trainer.runner import Run


def build(data: Path, out: Path, **overrides: object):
    cfg = BuildDatasetConfig.from_dict({"data": str(data), "find_faces": False, **overrides})
    stream = io.StringIO()
    code = build_dataset.run(cfg, Run(out, cfg, stream=stream))
    events = [parse_event(line) for line in stream.getvalue().splitlines()]
    return code, events, out / "manifest.json"


def test_small_subjects_are_dropped_and_each_subject_splits_80_20_without_leaks(five_each, tmp_path):
    code, events, path = build(five_each, tmp_path / "run")
    assert code == 0
    manifest = load_manifest(path)
    people = sorted(p.name for p in five_each.iterdir())
    kept, small = people[:3], people[3]
    assert manifest.dropped == {small: 2}
    assert manifest.subjects("train") == manifest.subjects("val") == kept  # same people on both sides
    for person in kept:
        train = [e.ref for e in manifest.train if e.subject == person]
        val = [e.ref for e in manifest.val if e.subject == person]
        assert (len(train), len(val)) == (4, 1)  # 80/20 of five images
        assert not set(train) & set(val)
        assert sorted(train + val) == sorted(f"{person}/{f.name}" for f in (five_each / person).iterdir())
    assert not {e.sha256 for e in manifest.train} & {e.sha256 for e in manifest.val}
    summary = next(e for e in events if isinstance(e, DatasetSummary))
    assert (summary.subjects, summary.train_images, summary.val_images) == (3, 12, 3)
    assert summary.dropped_subjects == {small: 2}
    assert isinstance(events[-1], Finished) and events[-1].summary["manifest"] == str(path)


def test_a_subject_disjoint_split_holds_people_out(five_each, tmp_path):
    _, _, path = build(five_each, tmp_path / "run", split="subjects", val_fraction=0.34)
    manifest = load_manifest(path)
    assert len(manifest.subjects("val")) == 1 and len(manifest.subjects("train")) == 2
    assert not set(manifest.subjects("train")) & set(manifest.subjects("val"))


def test_a_copy_of_an_image_under_another_name_never_reaches_the_other_side(five_each, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(five_each, data)
    person = sorted(p for p in data.iterdir())[0]
    first = sorted(person.iterdir())[0]
    for i in range(3):  # the same bytes three more times: whichever side one lands on, the others would leak
        shutil.copyfile(first, person / f"copy{i}.png")
    code, events, path = build(data, tmp_path / "run")
    manifest = load_manifest(path)
    assert manifest.duplicates == 3
    assert sum(e.sha256 == manifest.train[0].sha256 or e.sha256 == manifest.val[0].sha256
               for e in manifest.train + manifest.val) == 2


def test_a_leaky_manifest_is_refused_with_the_file_named(five_each, tmp_path):
    _, _, path = build(five_each, tmp_path / "run")
    data = json.loads(path.read_text())
    data["val"].append(data["train"][0])  # one training image also validates
    leaky = tmp_path / "leaky.json"
    leaky.write_text(json.dumps(data))
    with pytest.raises(LeakyManifestError, match="leaky.json.*1 image\\(s\\) are in both train and val"):
        load_manifest(leaky)
    data = json.loads(path.read_text())
    data["val"][0]["ref"] = "renamed.png"  # same bytes under another name
    data["val"][0]["sha256"] = data["train"][0]["sha256"]
    leaky.write_text(json.dumps(data))
    with pytest.raises(LeakyManifestError, match="byte-identical"):
        load_manifest(leaky)


def test_a_subject_split_with_a_person_on_both_sides_is_refused(five_each, tmp_path):
    _, _, path = build(five_each, tmp_path / "run", split="subjects", val_fraction=0.34)
    data = json.loads(path.read_text())
    data["val"][0]["subject"] = data["train"][0]["subject"]
    leaky = tmp_path / "leaky.json"
    leaky.write_text(json.dumps(data))
    with pytest.raises(LeakyManifestError, match="subject-disjoint"):
        load_manifest(leaky)


def test_too_few_subjects_and_damaged_manifests_are_clear_errors(five_each, tmp_path):
    with pytest.raises(ConfigError, match="0 subject\\(s\\) have at least 9 usable images"):
        build(five_each, tmp_path / "run", min_images=9)
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format": "rollcall.dataset", "version": 1, "split": "images"}')
    with pytest.raises(ConfigError, match="damaged.json is damaged"):
        load_manifest(damaged)
    damaged.write_text("{not json")
    with pytest.raises(ConfigError, match="damaged.json cannot be read"):
        load_manifest(damaged)


def test_the_gallery_is_a_source_and_its_samples_are_referenced_not_copied(tiny_faces, tmp_path):
    from core.storage.db import Database
    from core.gallery.store import Gallery

    db_path = tmp_path / "rollcall.db"
    with Database(db_path) as db:
        enrol_tiny_faces(Gallery(db), tiny_faces)
    _, _, path = build(db_path, tmp_path / "run", min_images=2, val_fraction=0.5)
    manifest = load_manifest(path)
    assert manifest.from_gallery and len(manifest.subjects("train")) == 3
    assert all(e.ref.startswith("sample:") and e.landmarks is not None for e in manifest.train + manifest.val)
    assert len(manifest.train) == len(manifest.val) == 3


def test_dsr_training_reads_a_subject_split_and_refuses_a_per_image_one(five_each, tmp_path):
    from trainer.faces import load_split

    _, _, subjects = build(five_each, tmp_path / "subjects", split="subjects", val_fraction=0.34)
    manifest = load_manifest(subjects)
    train, val, train_faces, val_faces, skipped = load_split(subjects, 0.5, 0)  # the manifest decides, not these
    assert (train, val) == (manifest.subjects("train"), manifest.subjects("val")) and skipped == 0
    assert len(train_faces) == len(manifest.train) and len(val_faces) == len(manifest.val)
    assert {f.subject for f in val_faces}.isdisjoint(f.subject for f in train_faces)
    _, _, images = build(five_each, tmp_path / "images")
    with pytest.raises(ConfigError, match="DSR training needs validation people it never trained on"):
        load_split(images, 0.5, 0)
