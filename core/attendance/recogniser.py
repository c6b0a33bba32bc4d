"""The recognition loop's engine: the per-frame recogniser.

`Recogniser.process(frame, t)` detects and embeds every face, follows faces
from frame to frame, identifies them against the gallery, and marks a person
present once K of their last N recognitions agree. Only trustworthy faces vote
(`core.vision.quality.vote_verdict`): a face too small or too blurry for its route
is tracked and reported with a hint, but never embedded, voted, marked or kept as
an unknown sighting. The desktop app runs it on a worker thread; `rollcall run`
runs it headless.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.attendance.detection_thread import BackgroundDetection
from core.attendance.marks import Attendance, Mark
from core.errors import ConfigError
from core.vision.detect import Detection
from core.gallery.faces import FACE_TEMPLATE
from core.gallery.store import Gallery, GalleryError, ModelRecord
from core.vision.align import align_face
from core.gallery.matching import Match, TemplateIndex
from core.gallery.policy import FALLBACK_MARGIN, ThresholdDecision, confidence, gallery_decision
from core.vision.pipeline import ROUTE_DIRECT, ROUTE_SMALL, Face, FacePipeline
from core.vision.quality import FaceQuality, vote_verdict
from core.vision.imageio import to_bgr8
from core.attendance.tracking import FaceTracker, Track, VotePolicy, cast_vote, iou_matrix, unknown_streak

logger = logging.getLogger(__name__)


NOT_READ = float("nan")  # the score of a face that has not been embedded yet (it waits for its turn)


@dataclass
class FaceReport:
    box: np.ndarray
    landmarks: np.ndarray
    quality: FaceQuality
    track_id: int
    match: Match
    read: bool = True  # embedded in this frame; False: `match` is the face's latest earlier recognition
    votes: bool = True  # trustworthy enough to count towards a mark (core.vision.quality.vote_verdict)
    hint: str = ""  # why it does not vote: "too small" | "blurry"; "" when it votes
    route: str = ROUTE_DIRECT  # "small": upscaled by the small-face route before embedding; "direct"


@dataclass
class FrameReport:
    t: float
    faces: list[FaceReport]
    new_marks: list[Mark] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    embedded: int = 0  # faces embedded in this frame (the others were recognised recently)
    full_detection: bool = True  # False: the tracked faces were relocated, no new face was searched for


@dataclass(frozen=True)
class RecognitionSettings:
    vote: VotePolicy = VotePolicy()
    margin: float | None = None  # top-1 minus top-2 needed; None: the threshold policy's (a tie never passes)
    threshold: float | None = None  # None: the threshold policy's decision (core.gallery.policy)
    record_unknown: bool = False
    # A decided face track is re-embedded at most this often (seconds); 0 embeds every face in every frame.
    recheck_known_s: float = 0.5
    # At most this many faces are embedded per frame (0: no limit). In a crowded frame the faces take
    # turns: new faces first, then those waiting longest, so a frame's cost stays bounded and every
    # face is still read several times a second.
    max_embeds_per_frame: int = 0
    # Full detection on every Nth frame (1: every frame). In between, the faces tracked in the previous
    # frame are found again cheaply where they were (the detector's `relocate`: ONet alone for MTCNN). A
    # frame with no face to follow, a face lost that way, or a detector that cannot relocate gets a full
    # detection.
    detect_every: int = 3
    # Full detection on a thread of its own instead (`detect_every` then unused): the live view's choice, as
    # a frame's time is then relocation and embedding only. Which frame a detection comes from depends on
    # timing, so runs that must be reproducible (a video file frame by frame) leave it off.
    background_detection: bool = False

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ConfigError(f"detect_every must be at least 1 (full detection on every frame), got {self.detect_every}")


# Faces embedded per frame at most in the live view (the others take turns): bounds a crowded frame's cost on
# a laptop CPU.
LIVE_EMBEDS_PER_FRAME = 2
# With detection on its own thread, a followed face that relocation missed is searched for where it was last
# seen for this long (a face whose detector score dipped for a frame comes back without waiting for the next
# full detection, which on a 1080p frame can take half a second).
RELOCATE_LOST_S = 0.5


def live_settings(record_unknown: bool = False, reproducible: bool = False) -> RecognitionSettings:
    """The settings the desktop's live view recognises with (the benchmarks measure the same): full detection
    on its own thread, unless the run must be `reproducible` (a video file read frame by frame)."""
    return RecognitionSettings(record_unknown=record_unknown, max_embeds_per_frame=LIVE_EMBEDS_PER_FRAME,
                               background_detection=not reproducible)


def distinct(detections: list[Detection], overlap: float = 0.5) -> list[Detection]:
    """Detections without those overlapping a better one (IoU above `overlap`): two tracks relocated onto
    the same face become one."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if not kept or iou_matrix(d.box[None], np.stack([k.box for k in kept])).max() <= overlap:
            kept.append(d)
    return kept


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
        self._tracked: list[Track] = []  # the tracks of the previous frame, in its detection order
        self._since_full = self.settings.detect_every  # frames since the last full detection (the first is one)
        self._background: BackgroundDetection | None = None  # with `background_detection`, started on first use
        self.model: ModelRecord | None = None
        self.index = TemplateIndex.empty(pipeline.embedder.dim)
        self.decision: ThresholdDecision | None = None
        self.reload()

    @property
    def threshold(self) -> float:
        """The settings' threshold when set, else the policy's decision (1.0, nobody, without a model)."""
        if self.settings.threshold is not None:
            return self.settings.threshold
        return self.decision.threshold if self.decision is not None else 1.0

    @property
    def margin(self) -> float:
        if self.settings.margin is not None:
            return self.settings.margin
        return self.decision.margin if self.decision is not None else FALLBACK_MARGIN

    def decision_for(self, route: str) -> ThresholdDecision | None:
        """The policy's decision for faces of a route ("direct", or "small": through the small-face route)."""
        if route == "direct" or self.model is None:
            return self.decision
        if route not in self._route_decisions:
            self._route_decisions[route] = gallery_decision(self.gallery, self.model, route=route,
                                                            enrolled=len(self.index))
        return self._route_decisions[route]

    def threshold_for(self, route: str) -> float:
        """The acceptance threshold for faces of `route` ("direct" | "small"): super-resolved faces
        score differently, so the policy decides for them from their own table."""
        if self.settings.threshold is not None:
            return self.settings.threshold
        decision = self.decision_for(route)
        return decision.threshold if decision is not None else 1.0

    def margin_for(self, route: str) -> float:
        if self.settings.margin is not None:
            return self.settings.margin
        decision = self.decision_for(route)
        return decision.margin if decision is not None else FALLBACK_MARGIN

    def confidence_for(self, score: float, route: str = ROUTE_DIRECT) -> int | None:
        """The operator's 0-100 scale of a face's score (core.gallery.policy.confidence; 50 = the bar it
        was judged against, a threshold in the settings included); None without a model."""
        decision = self.decision_for(route)
        if decision is None:
            return None
        if self.settings.threshold is not None and self.settings.threshold != decision.threshold:
            decision = dataclasses.replace(decision, threshold=self.settings.threshold)
        return confidence(score, decision)

    def reload(self) -> None:
        """Re-read the templates of the active model and the threshold policy's decision for them
        (call after the gallery or the policy's setting changed)."""
        self._route_decisions: dict[str, ThresholdDecision | None] = {}
        active = self.gallery.active_model()
        if active is None:
            self.model, self.index = None, TemplateIndex.empty(self.pipeline.embedder.dim)
            self.decision = None
            return
        if active.file_hash != self.pipeline.embedder.identity:
            raise GalleryError(
                f"the recogniser runs '{self.pipeline.embedder.name}' but the gallery's active model is "
                f"'{active.name}'; load that model first"
            )
        self.model = active
        self.index = TemplateIndex(*self.gallery.templates(active.id))
        self.decision = gallery_decision(self.gallery, active, enrolled=len(self.index))
        logger.info("threshold %.4f, margin %.4f (%s): %s", self.threshold, self.margin, self.decision.source,
                    self.decision.reason)

    def process(self, frame: np.ndarray, t: float) -> FrameReport:
        img = to_bgr8(frame)
        t0 = time.perf_counter()
        detections, full = self.find_faces(img, t)
        detect_ms = (time.perf_counter() - t0) * 1e3
        tracks = self._tracked = self.tracker.update(np.array([d.box for d in detections]).reshape(-1, 4), t)
        t1 = time.perf_counter()
        faces = self.pipeline.align_detections(img, detections)
        verdicts = [self.verdict(face) for face in faces]
        t2 = time.perf_counter()
        self.pipeline.embed_faces(faces, self._faces_to_embed(tracks, t, [votes for votes, _ in verdicts]))
        t3 = time.perf_counter()
        read = [i for i, face in enumerate(faces) if face.embedding is not None]
        matches = {}
        for route in (ROUTE_DIRECT, ROUTE_SMALL):
            idx = [i for i in read if faces[i].route == route]
            if idx:
                found = self.index.identify(np.stack([faces[i].embedding for i in idx]), self.threshold_for(route),
                                            self.margin_for(route))
                matches.update(zip(idx, found))
        timings = dict(detect=detect_ms, align=(t2 - t1) * 1e3, embed=(t3 - t2) * 1e3,
                       match=(time.perf_counter() - t3) * 1e3)
        report = FrameReport(t, [], timings_ms=timings, embedded=len(read), full_detection=full)
        for i, (face, track, (votes, hint)) in enumerate(zip(faces, tracks, verdicts)):
            if i not in matches:  # not read this frame: show what the face was last recognised as
                last = track.last_match or Match(None, None, NOT_READ, NOT_READ, None)
                report.faces.append(FaceReport(face.box, face.landmarks, face.quality, track.id, last, read=False,
                                               votes=votes, hint=hint, route=face.route))
                continue
            match = matches[i]
            track.last_match, track.matched_at = match, t
            report.faces.append(FaceReport(face.box, face.landmarks, face.quality, track.id, match,
                                           route=face.route))
            decided = cast_vote(track, match.person_id, match.score, t, self.settings.vote)
            if decided is not None and self.attendance is not None and self.session_id is not None:
                evidence = encode_jpeg(align_face(img, face.landmarks, FACE_TEMPLATE))
                mark = self.attendance.mark(self.session_id, decided, match.name or "", score=match.score,
                                            confidence=self.confidence_for(match.score, face.route),
                                            source=self.source_label, evidence_jpeg=evidence)
                if mark is not None:
                    logger.info("marked %s (score %.3f, confidence %s, track %d)", mark.person_name, match.score,
                                mark.confidence, track.id)
                    report.new_marks.append(mark)
            elif (self.settings.record_unknown and self.attendance is not None and not track.unknown_reported
                  and unknown_streak(track, self.settings.vote)):
                track.unknown_reported = True
                self.attendance.record_unknown(self.session_id, encode_jpeg(align_face(img, face.landmarks, FACE_TEMPLATE)),
                                               match.score, self.source_label)
        return report

    def find_faces(self, img: np.ndarray, t: float) -> tuple[list[Detection], bool]:
        """This frame's faces, and whether they come from a full detection (`detect_every`): between full
        passes the previous frame's faces are relocated. No face to follow, any of them lost, or a detector
        that cannot relocate means a full detection now."""
        if self.settings.background_detection and self.pipeline.detector.relocates:
            # a face relocation missed in the last frames is looked for again (it may have blinked)
            recent = [tr for tr in self.tracker.tracks.values() if 0.0 <= t - tr.last_seen <= RELOCATE_LOST_S]
            return self._find_with_background(img, recent)
        every = self.settings.detect_every
        live = [tr for tr in self._tracked if tr.id in self.tracker.tracks]
        if live and every > 1 and self._since_full < every - 1 and self.pipeline.detector.relocates:
            found = self.pipeline.relocate(img, np.stack([tr.box for tr in live]))
            if found is not None and all(d is not None for d in found):
                self._since_full += 1
                return distinct(found), False
        self._since_full = 0
        return self.pipeline.detect(img, video_frame=True), True

    def _find_with_background(self, img: np.ndarray, followed: list[Track]) -> tuple[list[Detection], bool]:
        """`find_faces` with full detection on its own thread: this frame goes to the detector when it is
        idle; the faces it last found (in an earlier frame) join the followed ones, and all are relocated
        here. A face lost by relocation is found again by the next full detection."""
        if self._background is None or self._background.closed:
            self._background = BackgroundDetection(lambda image: self.pipeline.detect(image, video_frame=True))
        fresh = self._background.take()
        if self._background.idle:
            self._background.submit(img.copy())
        boxes = [tr.box for tr in followed]
        if fresh:  # the detector's faces that no followed face already stands for (the tracker's own overlap)
            known = np.stack(boxes) if boxes else np.zeros((0, 4), np.float32)
            boxes += [d.box for d in fresh
                      if not len(known) or iou_matrix(d.box[None], known).max() < self.tracker.iou_threshold]
        if not boxes:
            return [], fresh is not None
        found = self.pipeline.relocate(img, np.stack(boxes)) or []
        return distinct([d for d in found if d is not None]), fresh is not None

    def close(self, wait: bool = False) -> None:
        """Stop the background detection thread, if one runs (the recogniser can still process frames);
        `wait` blocks until its current detection is over (at most a few seconds), as the thread that
        processed the frames should before it ends: torch must not be inside a detection at exit."""
        if self._background is not None:
            self._background.close(timeout=5.0 if wait else 0.0)

    def verdict(self, face: Face) -> tuple[bool, str]:
        """(votes, hint) of a face (`core.vision.quality.vote_verdict`). A face upscaled bicubically (the
        route on without a DSR model) is judged as a direct one: bicubic is no better than direct
        alignment on the training data's validation people (docs/BENCHMARKS.md)."""
        small = face.route == ROUTE_SMALL and self.pipeline.has_dsr
        return vote_verdict(face.quality, ROUTE_SMALL if small else ROUTE_DIRECT)

    def _faces_to_embed(self, tracks: list[Track], t: float, votes: list[bool] | None = None) -> list[bool]:
        """Which faces of this frame get embedded: never one that does not vote (`votes`). A face
        already recognised and marked is followed by the tracker and only re-read every
        `recheck_known_s`: its embedding would only confirm what the vote decided, and it is the
        costly step. With a per-frame limit, faces never read go first, then the ones read longest ago."""
        interval = self.settings.recheck_known_s
        votes = [True] * len(tracks) if votes is None else votes
        wanted = [
            v and not (interval > 0 and tr.decided is not None and tr.last_match is not None
                       and tr.last_match.person_id == tr.decided and t - tr.matched_at < interval)
            for tr, v in zip(tracks, votes)
        ]
        limit = self.settings.max_embeds_per_frame
        if limit <= 0 or sum(wanted) <= limit:
            return wanted
        order = sorted((i for i, w in enumerate(wanted) if w), key=lambda i: (tracks[i].last_match is not None,
                                                                               tracks[i].matched_at, tracks[i].id))
        chosen = set(order[:limit])
        return [i in chosen for i in range(len(tracks))]
