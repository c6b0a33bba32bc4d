"""The open-set benchmark's images: the data layouts, the dark and tight probe variants, and the
embedding pass (largest face per image) with its on-disk cache.

Layouts: a folder of person folders (`<person>/<image>`), or the CelebA pairs
benchmark layout (`images/` and `identities.txt`, one `image identity` a line).
Image names are paths relative to the data folder.

Variants, made at run time from each probe photo:
- `dark`: a gamma darkening (gamma drawn in [2.2, 3]) times a horizontal
  brightness ramp (uneven side light: one side at 25-50 % of the other), drawn
  per image from (seed, image name);
- `tight`: the photo cropped to the face box the normal run detected, plus a
  small margin, so the face fills the picture as on an ID-card crop.
The cache keeps one `openset-<digest>.npz` per (data, images, detector,
embedder, smallest face, variant and its parameters), written atomically and
read with `allow_pickle=False`, as `core.benchmarks.lowres_cache` does.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.benchmarks.array_cache import cache_path, read_arrays, write_arrays
from core.benchmarks.identification import subject_images
from core.benchmarks.lowres_cache import detector_identity, images_digest
from core.benchmarks.verification import largest_face
from core.errors import BenchmarkDataError, ImageReadError
from core.vision.imageio import read_image
from core.vision.pipeline import FacePipeline

logger = logging.getLogger(__name__)

VARIANTS = ("normal", "dark", "tight")
IDENTITIES_FILENAME = "identities.txt"
IMAGES_DIRNAME = "images"
GAMMA_RANGE = (2.2, 3.0)
SIDE_LIGHT_RANGE = (0.25, 0.5)  # brightness of the dark side, relative to the lit side
TIGHT_MARGIN = 0.05  # of the box's width and height, on every side
CACHE_VERSION = 1
CACHE_PREFIX = "openset-"
LOG_EVERY = 200


def load_photos(root: str | Path) -> dict[str, list[str]]:
    """Each person's photos (names relative to `root`), from either layout; people without photos are left out."""
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkDataError(f"{root} is not a folder: give a folder of person folders, or one with "
                                 f"{IMAGES_DIRNAME}/ and {IDENTITIES_FILENAME}")
    if (root / IDENTITIES_FILENAME).is_file() and (root / IMAGES_DIRNAME).is_dir():
        photos = _identities_layout(root)
    else:
        photos = {person: [p.relative_to(root).as_posix() for p in paths]
                  for person, paths in subject_images(root).items()}
    if not photos:
        raise BenchmarkDataError(f"{root} has no photos: expected person folders of images, or "
                                 f"{IMAGES_DIRNAME}/ with an {IDENTITIES_FILENAME} ('image identity' lines)")
    return photos


def _identities_layout(root: Path) -> dict[str, list[str]]:
    path = root / IDENTITIES_FILENAME
    photos: dict[str, list[str]] = {}
    missing = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 2:
            raise BenchmarkDataError(f"{path}, line {number}: expected 'image identity', got {line.strip()!r}. "
                                     f"Fix or remove that line.")
        name = f"{IMAGES_DIRNAME}/{parts[0]}"
        if not (root / name).is_file():
            missing.append(parts[0])
        photos.setdefault(parts[1], []).append(name)
    if missing:
        raise BenchmarkDataError(f"{len(missing)} image(s) listed in {path} are not in {root / IMAGES_DIRNAME}, "
                                 f"e.g. {missing[:3]}; restore them or remove their lines")
    return {person: sorted(names) for person, names in sorted(photos.items())}


def variant_rng(seed: int, name: str) -> np.random.Generator:
    """The random draws of one image's variant: the same for a (seed, name) whatever the order of images."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def darken(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dim, unevenly lit copy: gamma darkening, then a left-to-right (or right-to-left) brightness ramp."""
    gamma = rng.uniform(*GAMMA_RANGE)
    low = rng.uniform(*SIDE_LIGHT_RANGE)
    ramp = np.linspace(low, 1.0, image.shape[1], dtype=np.float32)
    if rng.random() < 0.5:
        ramp = ramp[::-1]
    dim = np.power(image.astype(np.float32) / 255.0, gamma) * ramp[None, :, None]
    return np.clip(np.round(dim * 255.0), 0, 255).astype(np.uint8)


def tight_crop(image: np.ndarray, box: np.ndarray, margin: float = TIGHT_MARGIN) -> np.ndarray:
    """The image cut to `box` (x1, y1, x2, y2) grown by `margin` of its size on every side, within the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = margin * (x2 - x1), margin * (y2 - y1)
    left, top = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    right, bottom = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if right - left < 2 or bottom - top < 2:
        raise BenchmarkDataError(f"the face box {box.tolist()} lies outside the {w}x{h} image")
    return np.ascontiguousarray(image[top:bottom, left:right])


@dataclass
class EmbeddingPass:
    """Per image name: the largest face's embedding and box (None: no face found)."""

    embeddings: dict[str, np.ndarray | None]
    boxes: dict[str, np.ndarray | None]

    def found(self, names: list[str]) -> int:
        return sum(self.embeddings.get(n) is not None for n in names)


def variant_image(root: Path, name: str, variant: str, seed: int,
                  normal_boxes: dict[str, np.ndarray | None] | None, margin: float = TIGHT_MARGIN) -> np.ndarray | None:
    """The image as the variant shows it; None for a tight crop of a photo where the normal run found no face."""
    image = read_image(root / name)
    if variant == "dark":
        return darken(image, variant_rng(seed, name))
    if variant == "tight":
        box = (normal_boxes or {}).get(name)
        return None if box is None else tight_crop(image, box, margin)
    return image


def compute_pass(pipeline: FacePipeline, root: Path, names: list[str], variant: str = "normal", seed: int = 0,
                 normal_boxes: dict[str, np.ndarray | None] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> EmbeddingPass:
    """Every image through the pipeline once (as the variant shows it); its largest face represents it."""
    if variant not in VARIANTS:
        raise BenchmarkDataError(f"unknown variant '{variant}': use one of {', '.join(VARIANTS)}")
    if variant == "tight" and normal_boxes is None:
        raise BenchmarkDataError("the tight variant crops to the normal run's face boxes: run the normal pass first")
    out = EmbeddingPass({}, {})
    for i, name in enumerate(names):
        try:
            image = variant_image(root, name, variant, seed, normal_boxes)
        except ImageReadError as exc:
            logger.warning("%s: counted as no face (%s)", name, exc)
            image = None
        face = largest_face(pipeline.process(image).faces) if image is not None else None
        out.embeddings[name] = None if face is None else np.asarray(face.embedding, np.float32)
        out.boxes[name] = None if face is None else np.asarray(face.box, np.float32)
        if progress:
            progress(i + 1, len(names))
        if (i + 1) % LOG_EVERY == 0:
            logger.info("%s pass: %d/%d images", variant, i + 1, len(names))
    return out


def pass_key(root: Path, names: list[str], detector: str, embedder_identity: str, min_face: int,
             variant: str, seed: int) -> dict:
    """Everything a pass depends on. The seed only matters to the dark variant; the tight one also
    depends on the normal pass (same other settings) and its margin."""
    return {
        "version": CACHE_VERSION, "data": str(Path(root).resolve()), "images": images_digest(Path(root), names),
        "detector": detector_identity(detector), "embedder": embedder_identity, "min_face": int(min_face),
        "variant": variant, "seed": int(seed) if variant == "dark" else None,
        "gamma": list(GAMMA_RANGE) if variant == "dark" else None,
        "side_light": list(SIDE_LIGHT_RANGE) if variant == "dark" else None,
        "margin": TIGHT_MARGIN if variant == "tight" else None,
    }


class PassCache:
    """Embedding passes stored as .npz files in one folder, one per key."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_for(self, key: dict) -> Path:
        return cache_path(self.folder, CACHE_PREFIX, key)

    def load(self, key: dict, names: list[str]) -> EmbeddingPass | None:
        """The stored pass for `key` covering exactly `names`, or None (a miss)."""
        arrays = read_arrays(self.path_for(key), key, "open-set cache")
        if arrays is None or [str(n) for n in arrays["names"]] != list(names):
            return None
        has_face, embeddings, boxes = arrays["has_face"], arrays["embeddings"], arrays["boxes"]
        return EmbeddingPass({n: embeddings[i].copy() if has_face[i] else None for i, n in enumerate(names)},
                             {n: boxes[i].copy() if has_face[i] else None for i, n in enumerate(names)})

    def save(self, key: dict, names: list[str], result: EmbeddingPass, dim: int) -> Path:
        has_face = np.array([result.embeddings[n] is not None for n in names], dtype=bool)
        embeddings = np.zeros((len(names), dim), np.float32)
        boxes = np.zeros((len(names), 4), np.float32)
        for i, n in enumerate(names):
            if has_face[i]:
                embeddings[i], boxes[i] = result.embeddings[n], result.boxes[n]
        path = write_arrays(self.path_for(key), key, {"names": np.array(names, dtype=str), "has_face": has_face,
                                                      "embeddings": embeddings, "boxes": boxes})
        logger.info("%s pass cached in %s", key["variant"], path)
        return path


def cached_pass(pipeline: FacePipeline, root: Path, names: list[str], detector: str, min_face: int,
                variant: str, seed: int, cache_dir: Path | None,
                normal_boxes: dict[str, np.ndarray | None] | None = None) -> tuple[EmbeddingPass, bool]:
    """The pass from the cache when it holds one for these settings, else computed (and cached)."""
    if cache_dir is None:
        return compute_pass(pipeline, root, names, variant, seed, normal_boxes), False
    cache = PassCache(cache_dir)
    key = pass_key(root, names, detector, pipeline.embedder.identity, min_face, variant, seed)
    found = cache.load(key, names)
    if found is not None:
        logger.info("%s pass: %d images from the cache %s", variant, len(names), cache.path_for(key))
        return found, True
    result = compute_pass(pipeline, root, names, variant, seed, normal_boxes)
    cache.save(key, names, result, pipeline.embedder.dim)
    return result, False
