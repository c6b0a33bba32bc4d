"""What the CLI commands share: the application service (core.service.Rollcall) opened lazily on --db
with the engine settings of the command line, and the pipelines it builds. No wiring here."""

from __future__ import annotations

import argparse
import functools

from core.gallery.enrol import Enroller
from core.vision.models.loading import DEFAULT_EMBEDDER
from core.vision.pipeline import FacePipeline
from core.service import EngineSettings, Rollcall
from core.service import engine as service_engine


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @functools.cached_property
    def settings(self) -> EngineSettings:
        a = self.args
        return EngineSettings(detector=a.detector, min_face_size=a.min_face, device=a.device)

    @functools.cached_property
    def service(self) -> Rollcall:
        """The service on --db (the file as given; the default database without it)."""
        return Rollcall.open(self.args.db, self.settings, default_model=self.args.embedder or DEFAULT_EMBEDDER)

    def standalone_pipeline(self) -> FacePipeline:
        """A pipeline from --detector/--embedder for commands that do not use the gallery (no database)."""
        return service_engine.standalone_pipeline(self.settings, self.args.embedder or DEFAULT_EMBEDDER)

    @property
    def pipeline(self) -> FacePipeline:
        """The service's pipeline of the gallery's active model; --embedder must be that model."""
        if self.args.embedder:
            self.service.check_model(self.args.embedder)
        return self.service.pipeline()

    def enroller(self) -> Enroller:
        if self.args.embedder:
            self.service.check_model(self.args.embedder)
        return self.service.enroller()

    def close(self) -> None:
        if "service" in self.__dict__:
            self.service.close()
