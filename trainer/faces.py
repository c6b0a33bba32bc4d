"""Face data for the DSR jobs: subject folders or the app's gallery, the split by subject, HR/LR pairs, tensors.

One place reads faces for every job, so they all align and degrade them alike: 112x112 images count as
aligned crops, others go through MTCNN once; a pair is the 28 px degraded crop
(`core.vision.degrade.degrade_face`) and the same face aligned at 112 px.

Details: docs/TRAINER.md#face-data
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.vision.align import ARCFACE_TEMPLATE, AlignmentTemplate, align_face, similarity_transform
from core.vision.degrade import Degradation, degrade_face, downscale_face, face_width
from core.errors import ConfigError, ImageReadError, RollcallError
from core.vision.imageio import read_image
from core.vision.models.base import InputSpec
from trainer.prep import Preparation

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp", ".tif", ".tiff")
HR_SIZE = ARCFACE_TEMPLATE.size  # 112
LR_SIZE = 28
MAX_FACE_WIDTH = 2 * HR_SIZE  # larger faces are shrunk on loading: the 112 px target needs no more detail

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    """One face: the image region around it (BGR uint8) and its five landmarks in that region."""

    image: np.ndarray
    landmarks: np.ndarray
    subject: str
    source: str


def list_subjects(root: str | Path) -> dict[str, list[Path]]:
    """Subject name -> sorted image files, for every sub-folder of `root` holding images."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"data folder {root} does not exist or is not a folder: give the folder that holds "
                          f"one sub-folder of face images per person")
    subjects = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            subjects[folder.name] = images
    if not subjects:
        raise ConfigError(f"data folder {root} has no sub-folders with images: put each person's face images "
                          f"in a folder of their own")
    return subjects


def split_subjects(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Train and validation subjects: disjoint, chosen by a seeded shuffle, at least one on each side."""
    if len(names) < 2:
        raise ConfigError(f"the data has {len(names)} person folder(s); the split by subject needs at least 2")
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = min(len(names) - 1, max(1, int(round(val_fraction * len(names)))))
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val


def write_split(path: Path, train: list[str], val: list[str]) -> None:
    path.write_text(json.dumps({"train": train, "val": val}, indent=1), encoding="utf-8")


class FaceFinder:
    """Landmarks of the largest face, by MTCNN (built on first use: aligned crops never need it)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._detector = None

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        if self._detector is None:
            from core.vision.detect import create_detector

            self._detector = create_detector("mtcnn", device=self.device)
        faces = self._detector.detect(image)
        if not faces:
            return None
        best = max(faces, key=lambda d: d.width * d.height)
        return np.asarray(best.landmarks, dtype=np.float64).reshape(5, 2)


def is_gallery(data: str | Path) -> bool:
    """A file (not a folder, not a .json manifest) as the data source is a Rollcall gallery database."""
    return Path(data).is_file() and Path(data).suffix.lower() != ".json"


def open_gallery(db_path: str | Path):
    """(Database, Gallery) of a gallery file, read for training; ConfigError when it is not one."""
    from core.storage.db import Database, DatabaseError
    from core.gallery.store import Gallery

    try:
        db = Database(db_path)
    except DatabaseError as exc:
        raise ConfigError(f"{db_path} is not a usable Rollcall gallery: {exc}. Give the app's rollcall.db "
                          f"(Settings > Data folder) or a folder of subject folders.") from None
    return db, Gallery(db)


def manifest_entries(manifest, side: str, limit: int = 0) -> list:
    """The entries of one side of a manifest, at most `limit` (0: all)."""
    return list(manifest.train if side == "train" else manifest.val)[:limit or None]


def manifest_faces(manifest, side: str, finder: FaceFinder | None = None, limit: int = 0,
                   prep: Preparation | None = None) -> tuple[list[Face], int]:
    """The faces of one side ("train" or "val") of a `trainer.manifest.Manifest` (at most `limit`, 0: all)
    and how many images could not be read. Landmarks come from the manifest; an entry without them is
    searched like any image."""
    entries = manifest_entries(manifest, side, limit)
    if manifest.from_gallery:
        db, gallery = open_gallery(manifest.source)
        try:
            stored = gallery.sample_faces([e.sample_id for e in entries])
        except RollcallError as exc:
            raise ConfigError(f"the manifest refers to samples that are no longer in {manifest.source} ({exc}); "
                              f"build the dataset again") from None
        finally:
            db.close()
        return [Face(*_region(image, lm), e.subject, f"{manifest.source}#{e.ref}")
                for e, (image, lm) in zip(entries, stored, strict=True)], 0
    root = Path(manifest.source)
    finder = finder or FaceFinder()
    faces = []
    for e in entries:
        faces.append(read_face(root / e.ref, e.subject, finder, e.landmarks, prep))
        if prep is not None:
            prep.tick()
    return [f for f in faces if f is not None], sum(f is None for f in faces)


def gallery_faces(db_path: str | Path, prep: Preparation | None = None) -> dict[str, list[Face]]:
    """Subject -> faces from the stored samples of a gallery (faces shrunk like any other, never detected);
    `prep` is told of each face, a person at a time."""
    db, gallery = open_gallery(db_path)
    subjects: dict[str, list[Face]] = {}
    try:
        if prep is not None:
            prep.total = sum(len(gallery.samples(person.id)) for person in gallery.people())
        for person, stored in gallery.stored_faces():
            key = f"{person.id}:{person.name}"  # names may repeat; ids do not
            subjects[key] = [Face(*_region(image, landmarks), key, f"{db_path}#person{person.id}")
                             for image, landmarks in stored]
            for _ in range(len(stored) if prep is not None else 0):
                prep.tick()
    finally:
        db.close()
    if not subjects:
        raise ConfigError(f"the gallery {db_path} has no enrolled samples to train on: enrol people first, "
                          f"or give a folder of subject folders")
    return subjects


def load_split(data: str | Path, val_fraction: float, seed: int, max_val: int = 0,
               finder: FaceFinder | None = None, prep: Preparation | None = None
               ) -> tuple[list[str], list[str], list[Face], list[Face], int]:
    """Train and validation people (disjoint), their faces, and how many images gave none;
    from a folder of subject folders, a gallery database or a subject-disjoint manifest. `prep` counts
    the images read (progress, stop checks) and caches the landmarks found."""
    from trainer.manifest import is_manifest, load_manifest

    if is_manifest(data):
        manifest = load_manifest(data)
        if manifest.split != "subjects":
            raise ConfigError(f"{data} splits each person's images between train and val (for fine-tuning an "
                              f"embedder); DSR training needs validation people it never trained on. Build a "
                              f"manifest with split: subjects.")
        if prep is not None:
            prep.total = len(manifest_entries(manifest, "train")) + len(manifest_entries(manifest, "val", max_val))
        train_faces, skipped_train = manifest_faces(manifest, "train", finder, prep=prep)
        val_faces, skipped_val = manifest_faces(manifest, "val", finder, limit=max_val, prep=prep)
        return (manifest.subjects("train"), manifest.subjects("val"), train_faces, val_faces,
                skipped_train + skipped_val)
    if is_gallery(data):
        by_subject = gallery_faces(data, prep)
        train, val = split_subjects(sorted(by_subject), val_fraction, seed)
        train_faces = [f for name in train for f in by_subject[name]]
        val_faces = [f for name in val for f in by_subject[name]][:max_val or None]
        return train, val, train_faces, val_faces, 0
    subjects = list_subjects(data)
    train, val = split_subjects(sorted(subjects), val_fraction, seed)
    finder = finder or FaceFinder()
    if prep is not None:
        n_val = sum(len(subjects[name]) for name in val)
        prep.total = sum(len(subjects[name]) for name in train) + (min(n_val, max_val) if max_val else n_val)
    train_faces, skipped_train = load_faces(subjects, train, finder, prep=prep)
    val_faces, skipped_val = load_faces(subjects, val, finder, limit=max_val, prep=prep)
    return train, val, train_faces, val_faces, skipped_train + skipped_val


def load_faces(subjects: dict[str, list[Path]], names: list[str], finder: FaceFinder | None = None,
               limit: int = 0, prep: Preparation | None = None) -> tuple[list[Face], int]:
    """The faces of the named subjects (at most `limit`, 0: all) and how many images gave none; `prep`
    (optional) is told of each image and supplies cached landmarks."""
    finder = finder or FaceFinder()
    faces: list[Face] = []
    skipped = 0
    for name in names:
        for path in subjects[name]:
            if limit and len(faces) >= limit:
                return faces, skipped
            face = read_face(path, name, finder, prep=prep)
            if prep is not None:
                prep.tick()
            if face is None:
                skipped += 1
            else:
                faces.append(face)
    return faces, skipped


def read_face(path: Path, subject: str, finder: FaceFinder, landmarks=None,
              prep: Preparation | None = None) -> Face | None:
    """The face of one image file: at `landmarks` when given, else the whole image of a 112x112 crop (taken
    as aligned) or the largest face the finder sees; None (logged) when unreadable or without a face."""
    try:
        image = read_image(path)
    except ImageReadError as exc:
        logger.warning("%s", exc)
        return None
    if landmarks is None and image.shape[:2] == (HR_SIZE, HR_SIZE):
        return Face(image, ARCFACE_TEMPLATE.array(), subject, str(path))
    if landmarks is not None:
        found = np.asarray(landmarks, dtype=np.float64)
    else:
        found = prep.landmarks(path, image, finder) if prep is not None else finder(image)
    if found is None:
        logger.info("no face found in %s: skipped", path)
        return None
    return Face(*_region(image, found), subject, str(path))


def _region(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep 1.5 template spans around the face (what degrade_face reads), landmarks shifted; a face wider
    than MAX_FACE_WIDTH is shrunk to it (area interpolation), which bounds memory and degradation time."""
    width = face_width(landmarks)
    cx, cy = landmarks.mean(axis=0)
    h, w = image.shape[:2]
    x0, y0 = int(max(0, np.floor(cx - 1.5 * width))), int(max(0, np.floor(cy - 1.5 * width)))
    x1, y1 = int(min(w, np.ceil(cx + 1.5 * width))), int(min(h, np.ceil(cy + 1.5 * width)))
    region, lm = np.ascontiguousarray(image[y0:y1, x0:x1]), landmarks - [x0, y0]
    if width > MAX_FACE_WIDTH:
        region, lm = downscale_face(region, lm, MAX_FACE_WIDTH)
    return region, lm


def mirrored(face: Face) -> Face:
    """The face flipped left to right, its landmarks flipped and swapped (eyes and mouth corners)."""
    width = face.image.shape[1]
    lm = face.landmarks.copy()
    lm[:, 0] = width - 1 - lm[:, 0]
    lm = lm[[1, 0, 2, 4, 3]]
    return Face(np.ascontiguousarray(face.image[:, ::-1]), lm, face.subject, face.source)


def make_pair(face: Face, rng: np.random.Generator, flip_prob: float = 0.0,
              degradation: Degradation = Degradation()) -> tuple[np.ndarray, np.ndarray]:
    """(LR 28x28, HR 112x112) aligned BGR uint8 crops of one face, mirrored with probability `flip_prob`;
    same rng state, same pair."""
    if flip_prob > 0 and rng.random() < flip_prob:
        face = mirrored(face)
    lr = degrade_face(face.image, face.landmarks, rng, out_size=LR_SIZE, params=degradation)
    hr = align_face(face.image, face.landmarks, ARCFACE_TEMPLATE, HR_SIZE)
    return lr, hr


def batch_at(faces: list[Face], step: int, steps_per_epoch: int, batch_size: int,
             seed: int) -> tuple[int, list[Face], list[np.random.Generator]]:
    """(epoch, faces, one rng per face) of training step `step`: the epoch's seeded shuffle, sliced.
    A function of the step alone, so a resumed run draws exactly the batches it would have drawn."""
    epoch, index = divmod(step, steps_per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(faces))
    picked = [faces[j] for j in order[index * batch_size:(index + 1) * batch_size]]
    return epoch, picked, [np.random.default_rng([seed, step, i]) for i in range(len(picked))]


def make_batch(faces: list[Face], rngs: list[np.random.Generator], flip_prob: float = 0.0,
               degradation: Degradation = Degradation()) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [make_pair(f, r, flip_prob, degradation) for f, r in zip(faces, rngs, strict=True)]
    return to_tensor(np.stack([p[0] for p in pairs])), to_tensor(np.stack([p[1] for p in pairs]))


def to_tensor(crops_bgr: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 BGR -> (N, 3, S, S) float RGB in [-1, 1] (the DSR normalisation)."""
    x = torch.from_numpy(np.ascontiguousarray(crops_bgr[..., ::-1])).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] tensors back to 0..255 (float, not rounded)."""
    return (x + 1.0) * 127.5


class EmbedderInput(torch.nn.Module):
    """Differentiable: 112 px ArcFace-aligned crops in [-1, 1] -> the embedder's own crop and normalisation.

    The same similarity warp that `core.vision.pipeline` applies to upscaled crops, done
    with `grid_sample` so the gradient reaches the SR network (edges replicated).
    """

    def __init__(self, spec: InputSpec, source: AlignmentTemplate = ARCFACE_TEMPLATE) -> None:
        super().__init__()
        self.size = spec.size
        m = similarity_transform(source.array(), spec.template.array(spec.size))  # source px -> target px
        full = np.vstack([m, [0.0, 0.0, 1.0]])
        inv = np.linalg.inv(full)  # target px -> source px
        # grid_sample coordinates (align_corners=False): u = (2x + 1) / W - 1
        to_norm_src = np.array([[2.0 / source.size, 0, 1.0 / source.size - 1],
                                [0, 2.0 / source.size, 1.0 / source.size - 1], [0, 0, 1]])
        from_norm_dst = np.linalg.inv(np.array([[2.0 / self.size, 0, 1.0 / self.size - 1],
                                                [0, 2.0 / self.size, 1.0 / self.size - 1], [0, 0, 1]]))
        theta = (to_norm_src @ inv @ from_norm_dst)[:2]
        self.identity_warp = bool(np.allclose(theta, [[1, 0, 0], [0, 1, 0]], atol=1e-6))
        self.register_buffer("theta", torch.tensor(theta, dtype=torch.float32)[None], persistent=False)
        mean, std = spec.channel_stats(torch.device("cpu"))
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = to_pixels(x)
        if not self.identity_warp:
            grid = F.affine_grid(self.theta.to(x.dtype).expand(len(x), 2, 3), [len(x), 3, self.size, self.size],
                                 align_corners=False)
            pixels = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return (pixels - self.mean) / self.std


def psnr(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of [-1, 1] tensors, measured on 0..255 pixels (SR clamped and rounded)."""
    a = to_pixels(sr).clamp(0, 255).round()
    b = to_pixels(hr)
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return 10.0 * torch.log10(255.0**2 / mse)


def ssim(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (Gaussian window 11, sigma 1.5, mean over RGB channels) on 0..255 pixels."""
    a = to_pixels(sr).clamp(0, 255).round()
    b = to_pixels(hr)
    coords = torch.arange(11, dtype=a.dtype, device=a.device) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(3, 1, 11, 11).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=3)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)
