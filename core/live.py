"""The recognition loop's engine: frame sources and the per-frame recogniser.

`Recogniser.process(frame, t)` detects and embeds every face, follows faces
from frame to frame, identifies them against the gallery, and marks a person
present once K of their last N recognitions agree. The desktop app runs it on
a worker thread; `rollcall run` runs it headless.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.attendance import Attendance, Mark
from core.db import ensure_not_database_file
from core.errors import RollcallError
from core.gallery import FACE_TEMPLATE, Gallery, GalleryError, ModelRecord
from core.align import align_face
from core.matching import Match, TemplateIndex
from core.pipeline import FacePipeline
from core.quality import FaceQuality
from core.imageio import to_bgr8
from core.tracking import FaceTracker, Track, VotePolicy, cast_vote, unknown_streak

logger = logging.getLogger(__name__)


NOT_READ = float("nan")  # the score of a face that has not been embedded yet (it waits for its turn)


class SourceError(RollcallError):
    """A camera, file or stream cannot be opened or stopped delivering frames."""


class FrameSource:
    """A camera (index), a video file or a stream URL, read with OpenCV."""

    def __init__(self, spec: str | int) -> None:
        self.spec = spec
        text = str(spec).strip()
        self.is_camera = text.isdigit()
        self.is_file = not self.is_camera and "://" not in text
        self.label = f"camera {text}" if self.is_camera else text
        self._cap: cv2.VideoCapture | None = None
        self._t0 = 0.0

    def open(self) -> FrameSource:
        from pathlib import Path

        if self.is_file:
            ensure_not_database_file(str(self.spec), "a video")  # opening it would drop SQLite's locks
        if self.is_file and not Path(str(self.spec)).is_file():
            raise SourceError(f"The video file {self.spec} does not exist.")
        cap = cv2.VideoCapture(int(self.spec)) if self.is_camera else cv2.VideoCapture(str(self.spec))
        if not cap.isOpened():
            cap.release()
            what = "camera" if self.is_camera else "video file" if self.is_file else "stream"
            hint = " Is it connected and not used by another program?" if self.is_camera else ""
            raise SourceError(f"Cannot open the {what} {self.label}.{hint}")
        self._cap = cap
        self._t0 = time.monotonic()
        return self

    @property
    def fps(self) -> float:
        return float(self._cap.get(cv2.CAP_PROP_FPS)) if self._cap is not None else 0.0

    @property
    def frame_count(self) -> int:
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self._cap is not None and self.is_file else 0

    def read(self) -> tuple[np.ndarray | None, float]:
        """(frame, time in seconds): the video's own clock for files, wall time for live sources.
        A None frame means the file ended or the live source stopped."""
        if self._cap is None:
            raise SourceError(f"{self.label} is not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None, 0.0
        if self.is_file:
            return frame, float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        return frame, time.monotonic() - self._t0

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> FrameSource:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class FaceReport:
    box: np.ndarray
    landmarks: np.ndarray
    quality: FaceQuality
    track_id: int
    match: Match
    read: bool = True  # embedded in this frame; False: `match` is the face's latest earlier recognition


@dataclass
class FrameReport:
    t: float
    faces: list[FaceReport]
    new_marks: list[Mark] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    embedded: int = 0  # faces embedded in this frame (the others were recognised recently)


@dataclass(frozen=True)
class RecognitionSettings:
    vote: VotePolicy = VotePolicy()
    margin: float = 0.0  # top-1 minus top-2 needed; 0 turns the rule off
    threshold: float | None = None  # None: the active model's threshold
    record_unknown: bool = False
    # A decided face track is re-embedded at most this often (seconds); 0 embeds every face in every frame.
    recheck_known_s: float = 0.5
    # At most this many faces are embedded per frame (0: no limit). In a crowded frame the faces take
    # turns: new faces first, then those waiting longest, so a frame's cost stays bounded and every
    # face is still read several times a second.
    max_embeds_per_frame: int = 0


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""


class Recogniser:
    def __init__(
        self,
        pipeline: FacePipeline,
        gallery: Gallery,
        attendance: Attendance | None = None,
        session_id: int | None = None,
        settings: RecognitionSettings | None = None,
        source_label: str = "",
    ) -> None:
        self.pipeline = pipeline
        self.gallery = gallery
        self.attendance = attendance
        self.session_id = session_id
        self.settings = settings or RecognitionSettings()
        self.source_label = source_label
        self.tracker = FaceTracker()
        self.model: ModelRecord | None = None
        self.index = TemplateIndex.empty(pipeline.embedder.dim)
        self.reload()

    @property
    def threshold(self) -> float:
        if self.settings.threshold is not None:
            return self.settings.threshold
        return self.model.threshold if self.model is not None else 1.0

    def reload(self) -> None:
        """Re-read the templates of the active model (call after the gallery changed)."""
        active = self.gallery.active_model()
        if active is None:
            self.model, self.index = None, TemplateIndex.empty(self.pipeline.embedder.dim)
            return
        if active.file_hash != self.pipeline.embedder.identity:
            raise GalleryError(
                f"the recogniser runs '{self.pipeline.embedder.name}' but the gallery's active model is "
                f"'{active.name}'; load that model first"
            )
        self.model = active
        self.index = TemplateIndex(*self.gallery.templates(active.id))

    def process(self, frame: np.ndarray, t: float) -> FrameReport:
        img = to_bgr8(frame)
        t0 = time.perf_counter()
        detections = self.pipeline.detect(img)
        detect_ms = (time.perf_counter() - t0) * 1e3
        tracks = self.tracker.update(np.array([d.box for d in detections]).reshape(-1, 4), t)
        faces, embed_timings = self.pipeline.embed_detections(img, detections, self._faces_to_embed(tracks, t))
        t1 = time.perf_counter()
        queries = [f.embedding for f in faces if f.embedding is not None]
        new_matches = iter(self.index.identify(np.stack(queries) if queries else np.zeros((0, self.index.dim)),
                                               self.threshold, self.settings.margin))
        timings = dict(detect=detect_ms, **embed_timings, match=(time.perf_counter() - t1) * 1e3)
        report = FrameReport(t, [], timings_ms=timings, embedded=len(queries))
        for face, track in zip(faces, tracks):
            if face.embedding is None:  # not read this frame: show what the face was last recognised as
                last = track.last_match or Match(None, None, NOT_READ, NOT_READ, None)
                report.faces.append(FaceReport(face.box, face.landmarks, face.quality, track.id, last, read=False))
                continue
            match = next(new_matches)
            track.last_match, track.matched_at = match, t
            report.faces.append(FaceReport(face.box, face.landmarks, face.quality, track.id, match))
            decided = cast_vote(track, match.person_id, match.score, t, self.settings.vote)
            if decided is not None and self.attendance is not None and self.session_id is not None:
                evidence = encode_jpeg(align_face(img, face.landmarks, FACE_TEMPLATE))
                mark = self.attendance.mark(self.session_id, decided, match.name or "", score=match.score,
                                            source=self.source_label, evidence_jpeg=evidence)
                if mark is not None:
                    logger.info("marked %s (score %.3f, track %d)", mark.person_name, match.score, track.id)
                    report.new_marks.append(mark)
            elif (self.settings.record_unknown and self.attendance is not None and not track.unknown_reported
                  and unknown_streak(track, self.settings.vote)):
                track.unknown_reported = True
                self.attendance.record_unknown(self.session_id, encode_jpeg(align_face(img, face.landmarks, FACE_TEMPLATE)),
                                               match.score, self.source_label)
        return report

    def _faces_to_embed(self, tracks: list[Track], t: float) -> list[bool]:
        """Which faces of this frame get embedded. A face already recognised and marked is followed
        by the tracker and only re-read every `recheck_known_s`: its embedding would only confirm
        what the vote decided, and it is the costly step. With a per-frame limit, faces never read
        go first, then the ones read longest ago."""
        interval = self.settings.recheck_known_s
        wanted = [
            not (interval > 0 and tr.decided is not None and tr.last_match is not None
                 and tr.last_match.person_id == tr.decided and t - tr.matched_at < interval)
            for tr in tracks
        ]
        limit = self.settings.max_embeds_per_frame
        if limit <= 0 or sum(wanted) <= limit:
            return wanted
        order = sorted((i for i, w in enumerate(wanted) if w), key=lambda i: (tracks[i].last_match is not None,
                                                                               tracks[i].matched_at, tracks[i].id))
        chosen = set(order[:limit])
        return [i in chosen for i in range(len(tracks))]
