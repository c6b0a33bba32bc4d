"""What the CLI commands share: the database, the gallery, attendance and the pipeline of the
gallery's active model, opened lazily from the command-line options."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from core.attendance.marks import Attendance
from core.storage.db import Database
from core.gallery.store import Gallery, GalleryError
from core.vision.models.base import Embedder
from core.vision.models.loading import DEFAULT_EMBEDDER, load_embedder
from core.vision.pipeline import FacePipeline, build_pipeline, resolve_device
from core.vision.detect import create_detector


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @functools.cached_property
    def db(self) -> Database:
        return Database(self.args.db)

    @functools.cached_property
    def gallery(self) -> Gallery:
        return Gallery(self.db)

    @functools.cached_property
    def attendance(self) -> Attendance:
        return Attendance(self.db)

    def standalone_pipeline(self) -> FacePipeline:
        """A pipeline from --detector/--embedder, for commands that do not use the gallery."""
        a = self.args
        return build_pipeline(a.detector, a.embedder or DEFAULT_EMBEDDER, device=a.device, min_face_size=a.min_face)

    @functools.cached_property
    def pipeline(self) -> FacePipeline:
        """The pipeline of the gallery's active model (the default model activates an empty gallery)."""
        a = self.args
        device = resolve_device(a.device)
        active = self.gallery.active_model()
        if active is None:
            embedder = load_embedder(a.embedder or DEFAULT_EMBEDDER, device=device)
            self.gallery.activate_model(embedder)
        else:
            embedder = self._active_embedder(active.source, device)
            if a.embedder and load_embedder(a.embedder).identity != active.file_hash:
                raise GalleryError(
                    f"--embedder {a.embedder} is not the gallery's active model ({active.name}); "
                    f"switch with: rollcall model activate {a.embedder}"
                )
        detector = create_detector(a.detector, min_face_size=a.min_face, device=str(device))
        return FacePipeline(detector, embedder)

    @staticmethod
    def _active_embedder(source: str, device) -> Embedder:
        if not Path(source).is_file():
            raise GalleryError(
                f"the active model's file {source} is missing; copy it back or activate another model "
                f"(rollcall model activate PATH)"
            )
        return load_embedder(source, device=device)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()
