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
active, `BicubicResolver`. Larger faces take the usual direct alignment.
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
TIGHT_CROP_MAX_SIDE = 400  # photos up to this size get a second, padded look when no face is found
TIGHT_CROP_PADDING = 0.25


@dataclass
class Face:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in source pixels
    score: float
    landmarks: np.ndarray  # (5, 2)
    quality: FaceQuality
    crop: np.ndarray  # aligned BGR crop at the embedder's input size
    embedding: np.ndarray | None  # (D,) float32, unit length; None only where embed_detections was told to skip


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

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Detections in full-image coordinates; big images are searched at a reduced size, and
        small photos where nothing was found are searched again with a border added (detectors
        miss faces that fill a tightly cropped picture, as in ID photos or face datasets)."""
        h, w = image_bgr.shape[:2]
        longest = max(h, w)
        if longest > self.max_detect_side:
            factor = self.max_detect_side / longest
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
            return [d.scaled(1.0 / factor) for d in self.detector.detect(small)]
        detections = self.detector.detect(image_bgr)
        if detections or longest > TIGHT_CROP_MAX_SIDE or min(h, w) < 8:
            return detections
        pad = int(round(TIGHT_CROP_PADDING * longest))
        padded = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        shifted = []
        for d in self.detector.detect(padded):
            box = d.box - pad
            box[[0, 2]] = np.clip(box[[0, 2]], 0, w)
            box[[1, 3]] = np.clip(box[[1, 3]], 0, h)
            shifted.append(Detection(box, d.score, d.landmarks - pad))
        return shifted

    def embed_detections(self, image_bgr: np.ndarray, detections: list[Detection],
                         embed: list[bool] | None = None) -> tuple[list[Face], dict[str, float]]:
        """Aligned crop, quality and embedding of each detection, embedded in one batch. `embed`
        (one flag per detection) skips the embedding of faces whose identity is already known
        (their `embedding` is None); everything else is still measured."""
        spec = self.embedder.spec
        wanted = [True] * len(detections) if embed is None else list(embed)
        if len(wanted) != len(detections):
            raise ValueError(f"{len(detections)} detections but {len(wanted)} embed flags")
        t0 = time.perf_counter()
        to_sr = [self.sr_below_px > 0 and face_width(d.landmarks) < self.sr_below_px for d in detections]
        crops = [None if s else align_face(image_bgr, d.landmarks, spec.template, spec.size)
                 for d, s in zip(detections, to_sr)]
        if any(to_sr):
            upscaled = iter(self.upscale_faces(image_bgr, [d.landmarks for d, s in zip(detections, to_sr) if s]))
            crops = [next(upscaled) if s else c for c, s in zip(crops, to_sr)]
        t1 = time.perf_counter()
        batch = [c for c, w in zip(crops, wanted) if w]
        vectors = iter(self.embedder.embed(np.stack(batch)) if batch else ())
        t2 = time.perf_counter()
        faces = [
            Face(d.box, d.score, d.landmarks, measure_quality(d.box, d.landmarks, c), c, next(vectors) if w else None)
            for d, c, w in zip(detections, crops, wanted)
        ]
        return faces, {"align": (t1 - t0) * 1e3, "embed": (t2 - t1) * 1e3}

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
    return FacePipeline(pipeline.detector, embedder, max_detect_side=pipeline.max_detect_side,
                        resolver=pipeline.resolver, sr_below_px=pipeline.sr_below_px)
