"""Adopting a new recognition model safely: evaluate it on the site's own gallery beside the active one,
promote it (re-embed every stored face, then switch all templates in one transaction), roll back.

Nothing switches until promotion commits: a cancel or crash leaves the previous model active, and the
embeddings computed so far are reused by the next attempt.

Details: docs/MODELS.md#adopting-a-new-recognition-model-on-a-gallery
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.gallery.calibration import pair_scores
from core.digest import file_sha256
from core.errors import RollcallError
from core.gallery.store import Gallery, GalleryError, ModelRecord
from core.gallery.calibration import far_frr_curve
from core.vision.models.base import Embedder
from core.vision.models.loading import DEFAULT_EMBEDDER, load_embedder
from core.vision.models.sanity import probe_embedder

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]


class NothingToRollBackError(GalleryError):
    """No earlier model to return to."""


@dataclass(frozen=True)
class GalleryScores:
    """How well a model separates the gallery's own people."""

    model_id: int
    model_name: str
    people: int
    samples: int
    genuine_pairs: int
    impostor_pairs: int
    genuine_mean: float | None
    impostor_mean: float | None
    d_prime: float | None  # (mean genuine - mean impostor) / pooled std: larger separates better
    eer: float | None  # equal error rate over the thresholds
    threshold: float  # the model's own threshold in this gallery
    far: float | None  # impostor pairs accepted at that threshold
    frr: float | None  # genuine pairs rejected at that threshold

    def to_dict(self) -> dict:
        return asdict(self)


def gallery_scores(gallery: Gallery, model_id: int) -> GalleryScores:
    """Genuine/impostor statistics of one model over the stored samples it has embeddings for."""
    record = gallery.model(model_id)
    labels, vectors = gallery.sample_embeddings(model_id)
    genuine, impostor = pair_scores(labels, vectors) if len(labels) >= 2 else (np.zeros(0), np.zeros(0))
    g_mean = float(genuine.mean()) if len(genuine) else None
    i_mean = float(impostor.mean()) if len(impostor) else None
    d_prime = eer = far = frr = None
    if len(genuine) and len(impostor):
        pooled = np.sqrt((genuine.var() + impostor.var()) / 2.0)
        d_prime = float((g_mean - i_mean) / pooled) if pooled > 0 else None
        grid = np.linspace(-1.0, 1.0, 2001)
        far_curve, frr_curve = far_frr_curve(genuine, impostor, grid)
        i = int(np.argmin(np.abs(far_curve - frr_curve)))
        eer = float((far_curve[i] + frr_curve[i]) / 2.0)
        far_t, frr_t = far_frr_curve(genuine, impostor, np.array([record.threshold]))
        far, frr = float(far_t[0]), float(frr_t[0])
    return GalleryScores(record.id, record.name, len(np.unique(labels)), len(labels), len(genuine), len(impostor),
                         g_mean, i_mean, d_prime, eer, float(record.threshold), far, frr)


@dataclass(frozen=True)
class Comparison:
    active: GalleryScores | None
    candidate: GalleryScores


def evaluate_candidate(gallery: Gallery, embedder: Embedder, *, progress: Progress | None = None,
                       cancelled: Cancelled | None = None) -> Comparison:
    """Embed every stored sample with the candidate (kept for a later promotion; nothing is switched) and
    score it beside the active model. DamagedModelError first if it tells no faces apart."""
    probe_embedder(embedder)
    record = gallery.embed_samples(embedder, progress=progress, cancelled=cancelled)
    active = gallery.active_model()
    active_scores = gallery_scores(gallery, active.id) if active is not None else None
    return Comparison(active_scores, gallery_scores(gallery, record.id))


def promote(gallery: Gallery, embedder: Embedder, *, progress: Progress | None = None,
            cancelled: Cancelled | None = None, before: Callable[[], object] | None = None) -> ModelRecord:
    """Make the candidate the active model (all templates switch at once, or none); the model it
    replaces becomes `gallery.previous_model()`. DamagedModelError (nothing changes, `before` is not
    called) if the candidate tells no faces apart: blank or damaged weights would leave every face
    unknown. `before` runs once the candidate passed, before anything changes (e.g. a backup)."""
    probe_embedder(embedder)
    if before is not None:
        before()
    before = gallery.active_model()
    record = gallery.activate_model(embedder, progress=progress, cancelled=cancelled)
    logger.info("promoted %s (model %d) in place of %s", record.name, record.id, before.name if before else "none")
    return record


def install_model_file(source: str | Path, models_dir: str | Path, name: str) -> Path:
    """Copy a model file (a training run's best.pt) into the app's own models folder as NAME.pt, so the
    gallery's model never depends on a run folder that may be cleaned up. Atomic (temporary file, then
    rename); an identical file already there is reused; a different one is never overwritten."""
    source, folder = Path(source), Path(models_dir)
    if not source.is_file():
        raise RollcallError(f"The model file {source} does not exist.")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._") or "model"
    folder.mkdir(parents=True, exist_ok=True)

    wanted = file_sha256(source)
    for n in range(100):
        target = folder / (f"{safe}.pt" if n == 0 else f"{safe}-{n + 1}.pt")
        if not target.exists():
            break
        if file_sha256(target) == wanted:
            return target
    else:
        raise RollcallError(f"{folder} already holds 100 models called {safe}; remove some.")
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_record_model(record: ModelRecord, device: str = "cpu") -> Embedder:
    """The embedder of a gallery model, checked to be the very weights the gallery knows."""
    source = record.source or DEFAULT_EMBEDDER
    if source != DEFAULT_EMBEDDER and not Path(source).is_file():
        raise RollcallError(f"The file of model {record.name}, {source}, is missing. Copy it back to roll back.")
    embedder = load_embedder(source, device=device)
    if embedder.identity != record.file_hash:
        raise RollcallError(f"{source} has changed since model {record.name} was used (its weights differ), so "
                            f"its stored embeddings no longer match it. Choose the model file again in Settings.")
    embedder.name = record.name
    return embedder


def roll_back(gallery: Gallery, *, device: str = "cpu", progress: Progress | None = None,
              cancelled: Cancelled | None = None) -> tuple[ModelRecord, Embedder]:
    """Return to the model that was active before the current one (which becomes the one to roll back to);
    the record and the loaded embedder (what the recognition pipeline needs next)."""
    previous = gallery.previous_model()
    if previous is None:
        raise NothingToRollBackError("There is no earlier model to roll back to.")
    embedder = load_record_model(previous, device)
    return gallery.activate_model(embedder, progress=progress, cancelled=cancelled), embedder
