"""Dataset manifests: which images (or gallery samples) train and which validate, without copying them.

`build-dataset` writes one; `finetune` and `train-dsr` read it in place of a data folder. Splits are by
image ("images", fine-tuning) or by person ("subjects", DSR). Loading refuses a manifest whose sides
share an image, or a person in a "subjects" split: such a validation would measure memory.

Splits: docs/TRAINER.md#dataset-manifests; format: docs/TRAINER_EVENTS.md#build-dataset-config-yaml
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import ConfigError

MANIFEST_FORMAT = "rollcall.dataset"
MANIFEST_VERSION = 1
MANIFEST_FILENAME = "manifest.json"
SPLITS = ("images", "subjects")
SAMPLE_PREFIX = "sample:"


class LeakyManifestError(ConfigError):
    """A manifest whose training and validation sides share images (or subjects, when they must not)."""


@dataclass(frozen=True)
class Entry:
    subject: str
    ref: str  # path relative to the manifest's source folder, or "sample:ID" in a gallery
    sha256: str
    landmarks: tuple[tuple[float, float], ...] | None = None  # five points in the image; None: not searched

    def to_dict(self) -> dict:
        return {"subject": self.subject, "ref": self.ref, "sha256": self.sha256,
                "landmarks": [list(p) for p in self.landmarks] if self.landmarks is not None else None}

    @property
    def sample_id(self) -> int | None:
        return int(self.ref[len(SAMPLE_PREFIX):]) if self.ref.startswith(SAMPLE_PREFIX) else None


@dataclass(frozen=True)
class Manifest:
    split: str  # "images" or "subjects"
    source: str  # the data folder or gallery database the refs point into
    seed: int
    val_fraction: float
    min_images: int
    train: tuple[Entry, ...]
    val: tuple[Entry, ...]
    dropped: dict[str, int] = field(default_factory=dict)  # subject -> usable images, below min_images
    no_face: int = 0  # images where no face was found (not in either split)
    duplicates: int = 0  # images left out because an identical file came earlier

    @property
    def from_gallery(self) -> bool:
        return Path(self.source).is_file()

    def subjects(self, side: str) -> list[str]:
        return sorted({e.subject for e in (self.train if side == "train" else self.val)})

    def summary(self) -> dict:
        """What the dataset_summary event carries."""
        per_subject: dict[str, dict[str, int]] = {}
        for side, entries in (("train", self.train), ("val", self.val)):
            for e in entries:
                per_subject.setdefault(e.subject, {"train": 0, "val": 0})[side] += 1
        return {"split": self.split, "subjects": len(per_subject), "train_subjects": len(self.subjects("train")),
                "val_subjects": len(self.subjects("val")), "train_images": len(self.train),
                "val_images": len(self.val), "dropped_subjects": dict(sorted(self.dropped.items())),
                "no_face": self.no_face, "duplicates": self.duplicates}

    def to_dict(self) -> dict:
        return {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "split": self.split, "source": self.source,
                "seed": self.seed, "val_fraction": self.val_fraction, "min_images": self.min_images,
                "summary": self.summary(), "dropped": dict(sorted(self.dropped.items())),
                "no_face": self.no_face, "duplicates": self.duplicates,
                "train": [e.to_dict() for e in self.train], "val": [e.to_dict() for e in self.val]}


def split_images(by_subject: dict[str, list[Entry]], val_fraction: float, seed: int) -> tuple[list[Entry], list[Entry]]:
    """Each subject's entries shuffled (seeded per subject) and cut: round(val_fraction * n) validate
    (at least one), the rest train (at least one)."""
    train, val = [], []
    for index, subject in enumerate(sorted(by_subject)):
        entries = by_subject[subject]
        order = np.random.default_rng([seed, index]).permutation(len(entries))
        n_val = min(len(entries) - 1, max(1, int(round(val_fraction * len(entries)))))
        val += [entries[i] for i in sorted(order[:n_val])]
        train += [entries[i] for i in sorted(order[n_val:])]
    return train, val


def check_no_leak(manifest: Manifest, origin: str = "manifest") -> None:
    """LeakyManifestError when the splits share an image (by ref or by content) or, for a "subjects"
    split, a subject."""
    problems = []
    refs = {e.ref for e in manifest.train} & {e.ref for e in manifest.val}
    if refs:
        problems.append(f"{len(refs)} image(s) are in both train and val (e.g. {sorted(refs)[0]})")
    train_hashes = {e.sha256: e.ref for e in manifest.train}
    same_bytes = [(train_hashes[e.sha256], e.ref) for e in manifest.val if e.sha256 in train_hashes and e.ref not in refs]
    if same_bytes:
        a, b = same_bytes[0]
        problems.append(f"{len(same_bytes)} validation image(s) are byte-identical copies of training images "
                        f"(e.g. {b} = {a})")
    if manifest.split == "subjects":
        shared = set(manifest.subjects("train")) & set(manifest.subjects("val"))
        if shared:
            problems.append(f"{len(shared)} subject(s) are on both sides of a subject-disjoint split "
                            f"(e.g. {sorted(shared)[0]})")
    if problems:
        raise LeakyManifestError(f"{origin} leaks between training and validation: {'; '.join(problems)}. "
                                 f"Rebuild it with `rollcall-train build-dataset`, which never does this.")


def save_manifest(manifest: Manifest, path: str | Path) -> Path:
    """Write atomically (temporary file, then rename) after checking it does not leak."""
    check_no_leak(manifest)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def is_manifest(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".json" and Path(path).is_file()


def load_manifest(path: str | Path) -> Manifest:
    """The manifest in `path`, validated: a ConfigError names the file and the problem."""
    path = Path(path)
    origin = f"dataset manifest {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{origin} does not exist: build one with `rollcall-train build-dataset`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{origin} cannot be read ({exc}); build it again with `rollcall-train build-dataset`") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ConfigError(f"{origin} is not a Rollcall dataset manifest (no \"format\": \"{MANIFEST_FORMAT}\")")
    if data.get("version") != MANIFEST_VERSION:
        raise ConfigError(f"{origin} has version {data.get('version')!r}; this trainer reads version "
                          f"{MANIFEST_VERSION}. Build it again with this version of Rollcall.")
    try:
        manifest = Manifest(
            split=str(data["split"]), source=str(data["source"]), seed=int(data["seed"]),
            val_fraction=float(data["val_fraction"]), min_images=int(data["min_images"]),
            train=tuple(_entry(e) for e in data["train"]), val=tuple(_entry(e) for e in data["val"]),
            dropped={str(k): int(v) for k, v in data.get("dropped", {}).items()},
            no_face=int(data.get("no_face", 0)), duplicates=int(data.get("duplicates", 0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{origin} is damaged ({type(exc).__name__}: {exc}); build it again") from None
    if manifest.split not in SPLITS:
        raise ConfigError(f"{origin}: split must be one of {', '.join(SPLITS)}, got '{manifest.split}'")
    if not manifest.train or not manifest.val:
        raise ConfigError(f"{origin} has {len(manifest.train)} training and {len(manifest.val)} validation "
                          f"images; both sides need some")
    check_no_leak(manifest, origin)
    return manifest


def _entry(d: dict) -> Entry:
    lm = d.get("landmarks")
    landmarks = None
    if lm is not None:
        arr = np.asarray(lm, dtype=np.float64)
        if arr.shape != (5, 2) or not np.isfinite(arr).all():
            raise ValueError(f"landmarks of {d.get('ref')} must be five (x, y) points")
        landmarks = tuple((float(x), float(y)) for x, y in arr)
    return Entry(subject=str(d["subject"]), ref=str(d["ref"]), sha256=str(d["sha256"]), landmarks=landmarks)
