"""MTCNN face detector (Zhang et al. 2016) in plain PyTorch, with the weights of ipazc/mtcnn 1.0.

This module is the cascade (PNet proposes, RNet rejects, ONet refines and gives five landmarks); the
networks are in `core.vision.detect.mtcnn_nets`. It follows ipazc/mtcnn 1.0's procedure so the converted
weights behave as trained, and batches the work (one packed pyramid, one batch per stage) for CPU speed.

Details: docs/MODELS.md#mtcnn-detector
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.vision.detect.base import Detection, Detector
from core.vision.detect.mtcnn_nets import ONet, PNet, RNet, to_network_input
from core.vision.detect.mtcnn_weights import load_mtcnn_weights
from core.errors import ConfigError, InvalidImageError

logger = logging.getLogger(__name__)

PNET_WINDOW = 12  # PNet's receptive field: one output cell looks at a 12x12 window
PNET_STRIDE = 2  # ... and cells are 2 px apart (one 2x2 max pool)
RNET_SIZE = 24
ONET_SIZE = 48

DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)  # PNet, RNet, ONet face probability (the paper's values)
DEFAULT_FACTOR = 0.709  # pyramid step: each level has half the area of the previous one
DEFAULT_MIN_FACE_SIZE = 20
NMS_PNET_LEVEL = 0.5  # IoU, within one pyramid level
NMS_PNET_ALL = 0.7  # IoU, across levels
NMS_RNET = 0.7  # IoU
NMS_ONET = 0.7  # intersection over the smaller box
# ONet's face probability a face already found needs to be kept by `relocate` (hysteresis: finding a face
# takes the cascade's thresholds, keeping it a lower bar, so a face near the bar does not blink in and out)
RELOCATE_THRESHOLD = 0.5


# --------------------------------------------------------------------------- box helpers


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best first.

    mode "union" suppresses boxes whose IoU with a better kept box exceeds
    `threshold`; "min" divides the overlap by the smaller box instead, which
    also removes a small box lying inside a bigger one (ONet's final step).
    Areas use MTCNN's inclusive-pixel convention (w = x2 - x1 + 1); boxes
    must not be inverted (x2 >= x1, y2 >= y1). Ties keep the earlier box.

    "union" runs in OpenCV (cv2.dnn.NMSBoxes, the same greedy rule, in C++):
    PNet hands over hundreds of candidates per image, and a numpy loop per
    kept box cost tens of milliseconds there. "min" only ever sees ONet's
    handful of boxes.
    """
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    if mode == "union":
        rects = np.empty((n, 4), dtype=np.float64)  # x, y, w, h with inclusive widths
        rects[:, :2] = boxes[:, :2]
        rects[:, 2:] = boxes[:, 2:4] - boxes[:, :2] + 1
        kept = cv2.dnn.NMSBoxes(rects, np.asarray(scores, dtype=np.float32), 0.0, float(threshold))
        return np.asarray(kept, dtype=np.intp).reshape(-1)
    if mode != "min":
        raise ValueError(f"unknown NMS mode {mode!r}")
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        iw = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1, 0)
        ih = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1, 0)
        order = rest[iw * ih <= threshold * np.minimum(areas[best], areas[rest])]
    return np.asarray(keep, dtype=np.intp)


def square_boxes(boxes: np.ndarray) -> np.ndarray:
    """Grow each (x1, y1, x2, y2) box to a square of side max(w, h) around its centre."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) * 0.5
    out[:, 1] = boxes[:, 1] + (h - side) * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _apply_regression(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Shift box edges by the predicted fractions of the box size (inclusive-pixel width)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + reg * np.stack([w, h, w, h], axis=1)


def _drop_inverted(boxes: np.ndarray) -> np.ndarray:
    """Remove boxes that a wild regression turned inside out (they would crop mirrored patches)."""
    return boxes[(boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])]


def crop_patches(image: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Bilinear crops of `boxes` from a normalised (1, 3, H, W) image, resized to size x size.

    Samples run from x1 to x2 inclusive, like TF's crop_and_resize that
    ipazc/mtcnn uses; parts outside the image read as 0, i.e. grey once
    normalised. All crops come from one grid_sample call.
    """
    n = len(boxes)
    _, _, height, width = image.shape
    b = torch.as_tensor(boxes[:, :4], dtype=image.dtype, device=image.device)
    steps = torch.linspace(0.0, 1.0, size, dtype=image.dtype, device=image.device)
    # Pixel coordinates -> grid_sample's [-1, 1] (align_corners=True: -1 and 1 are pixel centres 0 and W-1).
    gx = (b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * steps) * (2.0 / max(width - 1, 1)) - 1.0
    gy = (b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * steps) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack([gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], dim=-1)
    # One image, all crops stacked vertically in the grid: (1, n*size, size, 2) -> (1, 3, n*size, size).
    grid = grid.reshape(1, n * size, size, 2)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    # channels_last: torch's CPU pooling and oneDNN convs are several times faster in NHWC.
    return out.reshape(3, n, size, size).transpose(0, 1).contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- pyramid


@dataclass(frozen=True)
class PyramidLevel:
    """One pyramid level: the uint8 RGB image (h, w, 3) resized by `scale`."""

    scale: float
    image: np.ndarray


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which a face of min_face_size px becomes PNet's 12 px window, and smaller ones."""
    scale = PNET_WINDOW / min_face_size
    scales = []
    while min(height, width) * scale >= PNET_WINDOW:
        scales.append(scale)
        scale *= factor
    return scales


def pack_levels(sizes: Sequence[tuple[int, int]]) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Pack (h, w) rectangles, largest first, into a canvas as wide as the first one.

    Guillotine packing: each rectangle goes to the top-left of the highest
    free region it fits; the rest of that region splits into the strip to its
    right and the region below. For a 0.709 pyramid this wastes about 10 % of
    the canvas. Origins are even so that PNet's stride-2 output grid lines up
    with every level's own grid. Returns each (y, x) origin and the canvas (height, width).
    """

    def even(v: int) -> int:
        return v + (v & 1)

    canvas_w = sizes[0][1]
    free = [(0, 0, canvas_w, sum(even(h) for h, _ in sizes))]  # (y, x, w, h) regions
    origins = []
    for h, w in sizes:
        index = next(i for i, (_, _, fw, fh) in enumerate(free) if w <= fw and h <= fh)
        y, x, fw, fh = free.pop(index)
        origins.append((y, x))
        right = (y, even(x + w), x + fw - even(x + w), h)
        below = (even(y + h), x, fw, y + fh - even(y + h))
        free.extend(r for r in (right, below) if r[2] > 0 and r[3] > 0)
        free.sort()
    height = max(y + h for (y, _), (h, _) in zip(origins, sizes, strict=True))
    return origins, (height, canvas_w)


# --------------------------------------------------------------------------- detector


class MTCNNDetector(Detector):
    """MTCNN: boxes and five landmarks, with the weights bundled in the `mtcnn` package.

    min_face_size: smallest face (px) searched for; at least 12, PNet's window.
    Smaller values find smaller faces but cost time (the pyramid starts larger).
    thresholds: face probability each stage needs (PNet, RNet, ONet).
    factor: scale step between pyramid levels.
    max_faces: keep at most this many (the most confident); None keeps all.
    """

    name = "mtcnn"
    relocates = True

    def __init__(
        self,
        min_face_size: float = DEFAULT_MIN_FACE_SIZE,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        factor: float = DEFAULT_FACTOR,
        device: str | torch.device = "cpu",
        max_faces: int | None = None,
    ) -> None:
        if not min_face_size >= PNET_WINDOW:
            raise ConfigError(f"MTCNN min_face_size must be at least {PNET_WINDOW} px, got {min_face_size}")
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ConfigError(f"MTCNN thresholds must be three probabilities (PNet, RNet, ONet), got {thresholds}")
        if not 0.0 < factor < 1.0:
            raise ConfigError(f"MTCNN pyramid factor must be between 0 and 1, got {factor}")
        if max_faces is not None and max_faces < 1:
            raise ConfigError(f"max_faces must be at least 1 or None, got {max_faces}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("MTCNN device 'cuda' was requested but no CUDA GPU is available; use 'cpu'")
        self.min_face_size = float(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.max_faces = max_faces

        # cv2's INTER_AREA with fractional scales runs on one core; resizing the levels in
        # parallel (cv2 releases the GIL) halves the pyramid's ~15 ms on a 640x480 frame.
        workers = min(4, os.cpu_count() or 1)
        self._resizers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mtcnn-pyramid")
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        load_mtcnn_weights({"pnet": self.pnet, "rnet": self.rnet, "onet": self.onet})
        for net in (self.pnet, self.rnet, self.onet):
            net.to(self.device).eval().requires_grad_(False)

    # -- public -------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a BGR uint8 (H, W, 3) image, highest score first."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InvalidImageError(
                f"MTCNN needs a BGR uint8 image of shape (H, W, 3), got "
                f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
            )
        height, width = image.shape[:2]
        if not pyramid_scales(height, width, self.min_face_size, self.factor):
            return []  # smaller than the smallest face searched for
        rgb = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2RGB)
        with torch.inference_mode():
            boxes = self._propose(self.pyramid(rgb))
            proposals = len(boxes)
            if proposals == 0:
                return []
            image_t = to_network_input(rgb, self.device)
            boxes = self._refine(image_t, boxes)
            refined = len(boxes)
            if refined == 0:
                return []
            boxes, landmarks = self._output(image_t, boxes)
        logger.debug(
            "MTCNN %dx%d: %d proposals, %d after RNet, %d faces", width, height, proposals, refined, len(boxes)
        )
        if self.max_faces is not None:
            boxes, landmarks = boxes[: self.max_faces], landmarks[: self.max_faces]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0.0, float(width))
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0.0, float(height))
        return [
            Detection(box=box[:4].astype(np.float32), score=float(box[4]), landmarks=marks.astype(np.float32))
            for box, marks in zip(boxes, landmarks, strict=True)
        ]

    def pyramid(self, rgb: np.ndarray) -> list[PyramidLevel]:
        """The image pyramid of a uint8 RGB image (INTER_AREA resizing), largest level first."""
        height, width = rgb.shape[:2]
        scales = pyramid_scales(height, width, self.min_face_size, self.factor)

        def level(scale: float) -> PyramidLevel:
            size = (math.ceil(width * scale), math.ceil(height * scale))
            return PyramidLevel(scale, cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))

        return list(self._resizers.map(level, scales))

    def pnet_maps(self, levels: Sequence[PyramidLevel]) -> list[tuple[np.ndarray, np.ndarray]]:
        """PNet's (face prob (h', w'), box regression (4, h', w')) for every level, in one forward pass.

        The levels are packed into one canvas; a level's cells are those whose
        12x12 window lies inside it: cell (y, x) sees pixels [2y, 2y+12) x
        [2x, 2x+12) of the level. (Run on a level alone, PNet would add one
        more row/column for odd sizes, half of whose window is padding; we drop it.)
        """
        origins, (canvas_h, canvas_w) = pack_levels([lv.image.shape[:2] for lv in levels])
        canvas = np.zeros((canvas_h, canvas_w, 3), dtype=np.uint8)
        for (y, x), level in zip(origins, levels, strict=True):
            h, w = level.image.shape[:2]
            canvas[y : y + h, x : x + w] = level.image
        reg, prob = self.pnet(to_network_input(canvas, self.device))
        reg_np, prob_np = reg[0].cpu().numpy(), prob[0].cpu().numpy()
        maps = []
        for (y, x), level in zip(origins, levels, strict=True):
            h, w = level.image.shape[:2]
            cy, cx = y // PNET_STRIDE, x // PNET_STRIDE
            ny, nx = (h - PNET_WINDOW) // PNET_STRIDE + 1, (w - PNET_WINDOW) // PNET_STRIDE + 1
            maps.append((prob_np[cy : cy + ny, cx : cx + nx], reg_np[:, cy : cy + ny, cx : cx + nx]))
        return maps

    # -- stages -------------------------------------------------------------------

    def _propose(self, levels: list[PyramidLevel]) -> np.ndarray:
        """Stage 1: PNet windows as (N, 5) boxes (x1, y1, x2, y2, score) in image pixels, squared."""
        per_level = []
        for level, (prob, reg) in zip(levels, self.pnet_maps(levels), strict=True):
            ys, xs = np.nonzero(prob > self.thresholds[0])
            if len(ys) == 0:
                continue
            dx1, dy1, dx2, dy2 = reg[:, ys, xs] * PNET_WINDOW
            left, top = (xs * PNET_STRIDE).astype(np.float32), (ys * PNET_STRIDE).astype(np.float32)
            boxes = np.stack(
                [left + dx1, top + dy1, left + PNET_WINDOW + dx2, top + PNET_WINDOW + dy2, prob[ys, xs]], axis=1
            )
            boxes[:, :4] /= level.scale
            boxes = _drop_inverted(boxes)
            per_level.append(boxes[nms(boxes[:, :4], boxes[:, 4], NMS_PNET_LEVEL)])
        if not per_level:
            return np.zeros((0, 5), dtype=np.float32)
        boxes = np.concatenate(per_level)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], NMS_PNET_ALL)]
        boxes[:, :4] = square_boxes(boxes[:, :4])
        return boxes

    def _refine(self, image: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: RNet rescores and adjusts the proposals; survivors are squared."""
        reg, prob = self.rnet(crop_patches(image, boxes, RNET_SIZE))
        reg, prob = reg.cpu().numpy(), prob.cpu().numpy()
        keep = prob > self.thresholds[1]
        boxes = np.concatenate([_apply_regression(boxes[keep, :4], reg[keep]), prob[keep, None]], axis=1)
        boxes = _drop_inverted(boxes)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], NMS_RNET)]
        boxes[:, :4] = square_boxes(boxes[:, :4])
        return boxes

    def _output(self, image: torch.Tensor, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 3: ONet's final boxes (N, 5) and landmarks (N, 5, 2), best first."""
        boxes, landmarks = self._onet(crop_patches(image, boxes, ONET_SIZE), boxes)
        keep = boxes[:, 4] > self.thresholds[2]
        boxes, landmarks = boxes[keep], landmarks[keep]
        valid = (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
        boxes, landmarks = boxes[valid], landmarks[valid]
        order = nms(boxes[:, :4], boxes[:, 4], NMS_ONET, mode="min")
        return boxes[order], landmarks[order]

    def _onet(self, patches: torch.Tensor, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ONet on the patches of `boxes`: regressed boxes with their face probability (N, 5) and landmarks
        (N, 5, 2), one per input box, nothing dropped."""
        reg, marks, prob = self.onet(patches)
        reg, marks, prob = reg.cpu().numpy(), marks.cpu().numpy(), prob.cpu().numpy()
        boxes = boxes[:, :4]
        # Landmarks are fractions of the box ONet saw (before its own regression); the -1
        # is MTCNN's convention (from the original MATLAB code's 1-based pixels).
        w = boxes[:, 2:3] - boxes[:, 0:1] + 1
        h = boxes[:, 3:4] - boxes[:, 1:2] + 1
        landmarks = np.stack([w * marks[:, :5] + boxes[:, 0:1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)
        return np.concatenate([_apply_regression(boxes, reg), prob[:, None]], axis=1), landmarks

    def relocate(self, image: np.ndarray, boxes: np.ndarray) -> list[Detection | None]:
        """ONet alone on faces known to be near `boxes` (N, 4), e.g. where they were in the previous frame:
        each face's new box and landmarks, or None where ONet no longer sees a face. Many times cheaper than
        `detect`, and blind to new faces. Only the pixels around each box are read."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        height, width = image.shape[:2]
        squares = square_boxes(boxes)
        patches = []
        with torch.inference_mode():
            for x1, y1, x2, y2 in squares:
                left, top = max(0, int(np.floor(x1)) - 1), max(0, int(np.floor(y1)) - 1)
                right, bottom = min(width, int(np.ceil(x2)) + 2), min(height, int(np.ceil(y2)) + 2)
                if right - left < 2 or bottom - top < 2:  # the box has left the image
                    patches.append(None)
                    continue
                region = cv2.cvtColor(np.ascontiguousarray(image[top:bottom, left:right]), cv2.COLOR_BGR2RGB)
                shifted = np.array([[x1 - left, y1 - top, x2 - left, y2 - top]], dtype=np.float32)
                patches.append(crop_patches(to_network_input(region, self.device), shifted, ONET_SIZE))
            inside = np.array([p is not None for p in patches])
            if not inside.any():
                return [None] * len(boxes)
            out, landmarks = self._onet(torch.cat([p for p in patches if p is not None]), squares[inside])
        results: list[Detection | None] = [None] * len(boxes)
        for i, box, marks in zip(np.flatnonzero(inside), out, landmarks):
            if box[4] <= RELOCATE_THRESHOLD or box[2] < box[0] or box[3] < box[1]:
                continue
            box[[0, 2]] = np.clip(box[[0, 2]], 0.0, float(width))
            box[[1, 3]] = np.clip(box[[1, 3]], 0.0, float(height))
            results[i] = Detection(box[:4].astype(np.float32), float(box[4]), marks.astype(np.float32))
        return results
