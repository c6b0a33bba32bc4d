"""Image -> faces with box, landmarks, quality, aligned crop and L2-normalised embedding.

All faces of a frame are embedded in one batch. Large images are detected on a
reduced copy (bounded time and memory) while crops are cut from the full image.

Small faces and super-resolution (off unless `sr_below_px` > 0): a face whose
width (`core.vision.degrade.face_width`: the pixels the ArcFace template's crop spans)
is below `sr_below_px` is aligned to the ArcFace template scaled down to the
resolver's input size (28 px for DSR), upscaled by the resolver to its 112 px
ArcFace-aligned output, and that output is then warped onto the embedder's own
template and size, its landmarks being the template's points (an identity warp
for EdgeFace; dlib's wider chip reaches below the 112 px crop, where the edge rows
are repeated). The resolver is a DSR model (`SuperResolver`) or, when none is
active, `BicubicResolver`. Larger faces take the usual direct alignment. Each Face says
which route it took ("small" | "direct"), so thresholds and the trust rule can tell.

Second looks (`detect`, only when the first pass found nothing): a dark, low-contrast or
unevenly lit frame is searched again on a brightened, contrast-normalised copy; then any
image is searched once more, reduced (TIGHT_CROP_SEARCH_SIDE) and with a border added,
for faces that fill the picture (ID-card crops). Crops are always cut from the original.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from core.vision.align import align_face, similarity_transform
from core.vision.degrade import face_width
from core.vision.detect import Detection, Detector, create_detector
from core.errors import ConfigError
from core.vision.imageio import to_bgr8
from core.vision.models.base import Embedder
from core.vision.models.loading import load_embedder, load_resolver
from core.vision.models.superres import BicubicResolver, SuperResolver
from core.vision.quality import FaceQuality, measure_quality

logger = logging.getLogger(__name__)

DEFAULT_MAX_DETECT_SIDE = 1920
TIGHT_CROP_MAX_SIDE = 400  # photos up to this size get the padded look (no face found) at their own size...
TIGHT_CROP_SEARCH_SIDE = 240  # ...larger images on a copy reduced to this side (a face that fills it stays large)
TIGHT_CROP_PADDING = 0.25
# A frame where nothing was found gets a brightened, contrast-normalised look when its grey level (measured on
# a copy 64 px wide) is dark (mean below DIM_MEAN), flat (std below LOW_CONTRAST_STD) or has a shadowed part
# (a tile of a 4 x 4 grid with mean below SHADOW_TILE_MEAN). These bound the cost on empty frames, not accuracy:
# the darkened training photos of bench/dim_light.py have means of 11-72 (10th-90th percentile), well-lit
# ones about 110 (docs/BENCHMARKS.md, "Dim light and tight crops (issue 14)").
DIM_MEAN = 90.0
LOW_CONTRAST_STD = 32.0
SHADOW_TILE_MEAN = 40.0
ROUTE_DIRECT, ROUTE_SMALL = "direct", "small"


@dataclass
class Face:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in source pixels
    score: float
    landmarks: np.ndarray  # (5, 2)
    quality: FaceQuality
    crop: np.ndarray  # aligned BGR crop at the embedder's input size
    embedding: np.ndarray | None  # (D,) float32, unit length; None only where embed_detections was told to skip
    route: str = ROUTE_DIRECT  # "small": upscaled by the resolver (DSR or bicubic); "direct": aligned from the image


@dataclass
class FrameResult:
    faces: list[Face]
    image_size: tuple[int, int]  # (width, height)
    timings_ms: dict[str, float] = field(default_factory=dict)


def resolve_device(device: str) -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without one is a clear error. The one device
    rule of the app, the CLI and the trainer."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"the device '{device}' (CUDA) was requested but no CUDA device is available; "
                          f"choose 'cpu' (Settings in the app, device in a config file), or 'auto'")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"unknown device '{device}': use 'cpu', 'cuda' or 'auto'")
    return torch.device(device)


class FacePipeline:
    def __init__(
        self, detector: Detector, embedder: Embedder, max_detect_side: int = DEFAULT_MAX_DETECT_SIDE,
        resolver: SuperResolver | BicubicResolver | None = None, sr_below_px: float = 0.0,
    ) -> None:
        if max_detect_side < 64:
            raise ConfigError(f"max_detect_side must be at least 64 pixels, got {max_detect_side}")
        if sr_below_px < 0:
            raise ConfigError(f"sr_below_px must be 0 (off) or a face width in pixels, got {sr_below_px}")
        self.detector = detector
        self.embedder = embedder
        self.max_detect_side = max_detect_side
        self.sr_below_px = float(sr_below_px)
        self.resolver = resolver if resolver is not None else (BicubicResolver() if sr_below_px > 0 else None)
        self.second_look = True  # see `detect`; False only to measure the pipeline without the extra looks

    @property
    def has_dsr(self) -> bool:
        """True when the small-face route upscales with a trained DSR (not bicubically)."""
        return self.sr_below_px > 0 and isinstance(self.resolver, SuperResolver)

    def detect(self, image_bgr: np.ndarray, *, video_frame: bool = False) -> list[Detection]:
        """Detections in full-image coordinates; big images are searched at a reduced size. When nothing
        is found, a dim frame is searched again brightened and contrast-normalised, and then a photo
        (reduced to TIGHT_CROP_SEARCH_SIDE when larger than TIGHT_CROP_MAX_SIDE) with a border added:
        detectors miss faces that fill a tightly cropped picture, as in ID photos. A `video_frame` (the
        live loop) larger than TIGHT_CROP_MAX_SIDE gets no reduced bordered look: a camera frame is not an
        ID crop, and an empty room would pay for it on every frame. `second_look = False` turns both
        extra looks off, except the padded look at images up to TIGHT_CROP_MAX_SIDE that Rollcall always
        had."""
        h, w = image_bgr.shape[:2]
        factor = self.max_detect_side / max(h, w, 1)
        if factor >= 1.0:
            return self._looks(image_bgr, video_frame)
        # Every look searches the one reduced copy: a 40 MP photo costs what a 1920 px one does, in time and
        # in memory (brightening it at full size took seconds and several copies of 120 MB).
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
        return [d.scaled(1.0 / factor) for d in self._looks(small, video_frame)]

    def relocate(self, image_bgr: np.ndarray, boxes: np.ndarray) -> list[Detection | None] | None:
        """The detector's cheap search for faces known to be near `boxes` (full-image coordinates), on the
        copy `detect` would search; None when the detector cannot (then call `detect`)."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        h, w = image_bgr.shape[:2]
        factor = self.max_detect_side / max(h, w, 1)
        if factor >= 1.0:
            return self.detector.relocate(image_bgr, boxes)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        found = self.detector.relocate(cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA), boxes * factor)
        return None if found is None else [d if d is None else d.scaled(1.0 / factor) for d in found]

    def _looks(self, image_bgr: np.ndarray, video_frame: bool) -> list[Detection]:
        """`detect` on an image no larger than max_detect_side: the first look, then the second ones."""
        h, w = image_bgr.shape[:2]
        detections = self.detector.detect(image_bgr)
        if detections or min(h, w) < 8:
            return detections
        if not self.second_look:
            return [] if max(h, w) > TIGHT_CROP_MAX_SIDE else self._detect_padded(image_bgr)
        searched = image_bgr
        if is_dim(image_bgr):
            searched = normalise_light(image_bgr)
            detections = self.detector.detect(searched)
            if detections:
                return detections
        if video_frame and max(h, w) > TIGHT_CROP_MAX_SIDE:
            return []
        return self._detect_padded(searched)

    def _detect_padded(self, image_bgr: np.ndarray) -> list[Detection]:
        """The image with a grey border of TIGHT_CROP_PADDING searched (reduced to TIGHT_CROP_SEARCH_SIDE when
        larger than TIGHT_CROP_MAX_SIDE); boxes clipped to the image, in full-image coordinates."""
        h, w = image_bgr.shape[:2]
        factor = 1.0 if max(h, w) <= TIGHT_CROP_MAX_SIDE else TIGHT_CROP_SEARCH_SIDE / max(h, w)
        small = image_bgr if factor == 1.0 else cv2.resize(
            image_bgr, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        pad = int(round(TIGHT_CROP_PADDING * max(small.shape[:2])))
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        found = []
        for d in self.detector.detect(padded):
            box = (d.box - pad) / factor
            box[[0, 2]] = np.clip(box[[0, 2]], 0, w)
            box[[1, 3]] = np.clip(box[[1, 3]], 0, h)
            found.append(Detection(box, d.score, (d.landmarks - pad) / factor))
        return found

    def embed_detections(self, image_bgr: np.ndarray, detections: list[Detection],
                         embed: list[bool] | None = None) -> tuple[list[Face], dict[str, float]]:
        """Aligned crop, quality and embedding of each detection, embedded in one batch. `embed`
        (one flag per detection) skips the embedding of faces whose identity is already known
        (their `embedding` is None); everything else is still measured."""
        t0 = time.perf_counter()
        faces = self.align_detections(image_bgr, detections)
        t1 = time.perf_counter()
        self.embed_faces(faces, embed)
        return faces, {"align": (t1 - t0) * 1e3, "embed": (time.perf_counter() - t1) * 1e3}

    def align_detections(self, image_bgr: np.ndarray, detections: list[Detection]) -> list[Face]:
        """Each detection's aligned crop (through the small-face route where it applies), quality and
        route; no embedding yet (`embed_faces`)."""
        spec = self.embedder.spec
        to_sr = [self.sr_below_px > 0 and face_width(d.landmarks) < self.sr_below_px for d in detections]
        crops = [None if s else align_face(image_bgr, d.landmarks, spec.template, spec.size)
                 for d, s in zip(detections, to_sr)]
        if any(to_sr):
            upscaled = iter(self.upscale_faces(image_bgr, [d.landmarks for d, s in zip(detections, to_sr) if s]))
            crops = [next(upscaled) if s else c for c, s in zip(crops, to_sr)]
        return [Face(d.box, d.score, d.landmarks, measure_quality(d.box, d.landmarks, c), c, None,
                     ROUTE_SMALL if s else ROUTE_DIRECT) for d, c, s in zip(detections, crops, to_sr)]

    def embed_faces(self, faces: list[Face], embed: list[bool] | None = None) -> None:
        """Fill in the embeddings of `faces` (those flagged in `embed`; all when None), in one batch."""
        wanted = [True] * len(faces) if embed is None else list(embed)
        if len(wanted) != len(faces):
            raise ValueError(f"{len(faces)} detections but {len(wanted)} embed flags")
        batch = [f.crop for f, w in zip(faces, wanted) if w]
        if not batch:
            return
        vectors = iter(self.embedder.embed(np.stack(batch)))
        for face, w in zip(faces, wanted):
            if w:
                face.embedding = next(vectors)

    def upscale_faces(self, image_bgr: np.ndarray, landmarks: list[np.ndarray]) -> list[np.ndarray]:
        """Crops for the embedder of small faces: low-res aligned crop -> resolver -> embedder's template."""
        resolver = self.resolver if self.resolver is not None else BicubicResolver()
        spec = self.embedder.spec
        lr = np.stack([align_face(image_bgr, lm, resolver.input_template) for lm in landmarks])
        sr = resolver.upscale(lr)
        # The landmarks sit on the template's points in every upscaled crop. Embedders with a wider
        # crop (dlib's chip reaches ~12 px below the 112 px ArcFace crop) see the edge rows repeated.
        m = similarity_transform(resolver.template.array(), spec.template.array(spec.size))
        return [cv2.warpAffine(crop, m, (spec.size, spec.size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE) for crop in sr]

    def process(self, image: np.ndarray, color: str = "bgr") -> FrameResult:
        """Every face in `image` (any layout `to_bgr8` accepts), in one embedding batch."""
        img = to_bgr8(image, color)
        t0 = time.perf_counter()
        detections = self.detect(img)
        detect_ms = (time.perf_counter() - t0) * 1e3
        faces, timings = self.embed_detections(img, detections)
        return FrameResult(faces, (img.shape[1], img.shape[0]), {"detect": detect_ms, **timings})


def is_dim(image_bgr: np.ndarray) -> bool:
    """Dark, flat or partly shadowed (see DIM_MEAN, LOW_CONTRAST_STD, SHADOW_TILE_MEAN)."""
    h, w = image_bgr.shape[:2]
    width = min(64, w)
    grey = cv2.cvtColor(cv2.resize(image_bgr, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2GRAY).astype(np.float32)
    if grey.mean() < DIM_MEAN or grey.std() < LOW_CONTRAST_STD:
        return True
    tiles = [t.mean() for band in np.array_split(grey, 4, axis=0) for t in np.array_split(band, 4, axis=1) if t.size]
    return min(tiles) < SHADOW_TILE_MEAN


def normalise_light(image_bgr: np.ndarray) -> np.ndarray:
    """A copy for detection only: a gamma lift that brings the mean grey level to mid-grey, then CLAHE on
    the L channel (local contrast, for uneven light)."""
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    mean = float(np.clip(grey.mean() / 255.0, 0.02, 0.98))
    gamma = float(np.clip(np.log(0.5) / np.log(mean), 0.4, 1.0))  # only brightens
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(cv2.LUT(image_bgr, lut), cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def build_pipeline(
    detector: str = "mtcnn",
    embedder: str | Embedder = "dlib",
    device: str = "cpu",
    min_face_size: int = 20,
    max_detect_side: int = DEFAULT_MAX_DETECT_SIDE,
    dsr: str | SuperResolver | BicubicResolver = "none",
    sr_below_px: float = 0.0,
) -> FacePipeline:
    """A pipeline from short specs: detector "mtcnn" | "yunet:PATH"; embedder "dlib" | model file path
    (or an embedder already loaded); dsr "none" (bicubic) | DSR checkpoint path (or a resolver already
    loaded), used for faces narrower than `sr_below_px` (0: off)."""
    dev = resolve_device(device)
    if isinstance(embedder, str):
        embedder = load_embedder(embedder, device=dev)
    resolver = None
    if sr_below_px > 0:
        resolver = load_resolver(dsr, device=dev) if isinstance(dsr, str) else dsr
    return FacePipeline(
        create_detector(detector, min_face_size=min_face_size, device=str(dev)),
        embedder,
        max_detect_side=max_detect_side,
        resolver=resolver,
        sr_below_px=sr_below_px,
    )


def with_embedder(pipeline: FacePipeline, embedder: Embedder) -> FacePipeline:
    """The same detector and small-face route around another embedder (after a model switch)."""
    other = FacePipeline(pipeline.detector, embedder, max_detect_side=pipeline.max_detect_side,
                         resolver=pipeline.resolver, sr_below_px=pipeline.sr_below_px)
    other.second_look = pipeline.second_look
    return other
