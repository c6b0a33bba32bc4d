"""Fuzz cases for image input: mutated files of every accepted format fed to read_image and decode_image,
and mutated face photos (and odd in-memory arrays) fed to the enrolment check."""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from bench.fuzz_cases import EXTREME_U32, FuzzEnv, mutate_bytes

HUGE_SIDES = (0, 1, 65_535, 65_536, 2**24, 2**31 - 1, 2**32 - 1)


def synthetic_image(height: int = 40, width: int = 48, seed: int = 7) -> np.ndarray:
    """A small smooth BGR picture with some noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xs * 4, ys * 5, (xs + ys) * 2], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def encoded_bases(image: np.ndarray) -> dict[str, bytes]:
    """`image` encoded in every format Rollcall decodes, in several flavours."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    rgba = np.dstack([image, np.full(image.shape[:2], 128, np.uint8)])
    wide = image.astype(np.uint16) * 257
    flavours = {
        "jpeg": (".jpg", image, []), "jpeg-progressive": (".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        "jpeg-grey": (".jpg", grey, []), "png": (".png", image, []), "png-grey": (".png", grey, []),
        "png-rgba": (".png", rgba, []), "png-16bit": (".png", wide, []), "bmp": (".bmp", image, []),
        "bmp-grey": (".bmp", grey, []), "tiff": (".tiff", image, []), "tiff-16bit": (".tiff", wide, []),
        "tiff-float": (".tiff", image.astype(np.float32) / 255, []), "webp": (".webp", image, []),
        "webp-lossless": (".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101]), "ppm": (".ppm", image, []),
        "pgm": (".pgm", grey, []), "pbm": (".pbm", grey, []),
    }
    out = {}
    for name, (suffix, pixels, params) in flavours.items():
        ok, buf = cv2.imencode(suffix, pixels, params)
        if ok:
            out[name] = buf.tobytes()
    return out


def large_bases() -> dict[str, bytes]:
    """Valid photos as large as Rollcall decodes (or larger, for JPEGs decoded reduced) that compress to
    little: what a small file can ask of the decoder and the detector."""
    black = np.zeros((6300, 6300), np.uint8)  # 39.7 MP, just under DEFAULT_MAX_PIXELS
    ramp = np.broadcast_to(np.linspace(0, 255, 9000, dtype=np.float32).astype(np.uint8)[None, :], (9000, 9000))
    out = {"png-40mp": cv2.imencode(".png", black)[1].tobytes(),
           "jpeg-81mp": cv2.imencode(".jpg", ramp, [cv2.IMWRITE_JPEG_QUALITY, 30])[1].tobytes(),
           "jpeg-progressive-49mp": cv2.imencode(".jpg", ramp[:7000, :7000], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                                                              cv2.IMWRITE_JPEG_QUALITY, 30])[1].tobytes()}
    return out


def set_size(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    """The header's size fields (and a few neighbours) set to extreme values; the rest left valid."""
    buf = bytearray(data)
    w, h = rng.choice(HUGE_SIDES), rng.choice(HUGE_SIDES)
    label = f"header size {w}x{h}"
    if name.startswith("png") and len(buf) >= 33:
        buf[16:24] = struct.pack(">II", w, h)
        if rng.random() < 0.7:  # a correct CRC, so libpng believes it
            buf[29:33] = struct.pack(">I", zlib.crc32(bytes(buf[12:29])) & 0xFFFFFFFF)
    elif name.startswith("jpeg"):
        from core.vision.image_headers import jpeg_info

        info = jpeg_info(data)
        if info:
            at = info[2]
            buf[at + 5:at + 9] = struct.pack(">HH", h & 0xFFFF, w & 0xFFFF)
            if rng.random() < 0.3:
                buf[at + 9] = rng.choice((0, 1, 4, 255))  # component count
                label += f", {buf[at + 9]} components"
    elif name.startswith("bmp") and len(buf) >= 34:
        buf[18:26] = struct.pack("<ii", min(w, 2**31 - 1), -min(h, 2**31 - 1) if rng.random() < 0.3 else min(h, 2**31 - 1))
        if rng.random() < 0.4:
            bits = rng.choice((0, 1, 3, 16, 32, 64, 0xFFFF))
            buf[28:30] = struct.pack("<H", bits)
            label += f", {bits} bits"
        if rng.random() < 0.2:
            buf[14:18] = struct.pack("<I", rng.choice((12, 16, 40, 124, 0xFFFFFFFF)))
    elif name.startswith("tiff"):
        label += _tiff_tags(rng, buf, w, h)
    elif name.startswith("webp") and len(buf) >= 30:
        chunk = bytes(buf[12:16])
        if chunk == b"VP8 ":
            buf[26:30] = struct.pack("<HH", w & 0x3FFF, h & 0x3FFF)
        elif chunk == b"VP8L":
            buf[21:25] = struct.pack("<I", ((w - 1) & 0x3FFF) | (((h - 1) & 0x3FFF) << 14))
    elif name in ("ppm", "pgm", "pbm"):
        magic = {"ppm": b"P6", "pgm": b"P5", "pbm": b"P4"}[name]
        maxval = rng.choice((b"", b"255", b"0", b"65535", b"65536", b"99999999999"))
        head = magic + b"\n" + str(w).encode() + b" " + str(h).encode() + b"\n" + (maxval + b"\n" if maxval else b"")
        return label + f" maxval {maxval!r}", head + bytes(buf[len(buf) // 3:])
    return label, bytes(buf)


def _tiff_tags(rng: random.Random, buf: bytearray, w: int, h: int) -> str:
    order = "<" if buf[:2] == b"II" else ">"
    offset = struct.unpack(order + "I", buf[4:8])[0]
    if offset + 2 > len(buf):
        return ""
    count = struct.unpack(order + "H", buf[offset:offset + 2])[0]
    changed = []
    for k in range(min(count, 64)):
        at = offset + 2 + 12 * k
        if at + 12 > len(buf):
            break
        tag, kind = struct.unpack(order + "HH", buf[at:at + 4])
        value = {256: w, 257: h}.get(tag)
        if value is None and tag in (258, 273, 277, 278, 279, 339) and rng.random() < 0.3:
            value = rng.choice(EXTREME_U32)
        if value is None:
            continue
        buf[at + 2:at + 8] = struct.pack(order + "HI", 4, 1)  # one LONG
        buf[at + 8:at + 12] = struct.pack(order + "I", value & 0xFFFFFFFF)
        changed.append(f"{tag}={value}")
    return f" (tags {', '.join(changed)})"


def mutated_image(rng: random.Random, bases: dict[str, bytes]) -> tuple[str, bytes]:
    name = rng.choice(sorted(bases))
    data = bases[name]
    if rng.random() < 0.3:
        how, out = set_size(rng, name, data)
    else:
        how, out = mutate_bytes(rng, data, keep=rng.choice((0, 2, 4, 8)))
    if rng.random() < 0.15:  # a second damage on top
        more, out = mutate_bytes(rng, out, keep=2)
        how += f" + {more}"
    return f"{name}: {how}", out


def _odd_path(rng: random.Random, folder: Path, data: bytes) -> tuple[str, Path]:
    """Not a plain file: a folder, nothing, a dangling or looping link, a FIFO, a device, odd names."""
    how = rng.choice(("folder", "missing", "dangling", "loop", "fifo", "device", "nul", "non-utf8", "suffix"))
    if how == "folder":
        (folder / "photo.jpg").mkdir()
        return how, folder / "photo.jpg"
    if how == "dangling":
        os.symlink(folder / "nowhere.jpg", folder / "link.jpg")
        return how, folder / "link.jpg"
    if how == "loop":
        os.symlink(folder / "b.jpg", folder / "a.jpg")
        os.symlink(folder / "a.jpg", folder / "b.jpg")
        return how, folder / "a.jpg"
    if how == "fifo" and hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.jpg")
        return how, folder / "pipe.jpg"
    if how == "device" and Path("/dev/zero").exists():
        return how, Path("/dev/zero")
    if how == "nul":
        return how, folder / "a\x00b.jpg"
    if how == "non-utf8":
        name = os.fsdecode(b"caf\xe9.jpg")
        (folder / name).write_bytes(data)
        return how, folder / name
    if how == "suffix":
        (folder / "photo.gif").write_bytes(data)
        return how, folder / "photo.gif"
    return "missing", folder / "missing.jpg"


def image_case(rng: random.Random, env: FuzzEnv, folder: Path):  # noqa: ANN201
    """read_image (a file) and decode_image (bytes) of a mutated image; sometimes an odd path instead."""
    from core.vision.imageio import DEFAULT_MAX_PIXELS, decode_image, read_image

    bases = env.once("image_bases", lambda: encoded_bases(synthetic_image()))
    if rng.random() < 0.02 and env.large:  # drawn either way: a case stays the same case
        bases = env.once("large_bases", large_bases)
    label, data = mutated_image(rng, bases)  # type: ignore[arg-type]
    max_pixels = rng.choice((DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS, 500, 1))
    if rng.random() < 0.06:
        how, path = _odd_path(rng, folder, data)
        return f"path: {how}", lambda: read_image(path, max_pixels)
    path = folder / "photo.jpg"
    path.write_bytes(data)
    label += f", max_pixels {max_pixels}"

    def call() -> None:
        try:
            decode_image(data, path, max_pixels)
        finally:
            read_image(path, max_pixels)  # also when decoding refused: the file path must agree

    return label, call


def _face_bases(env: FuzzEnv) -> dict[str, bytes]:
    """A real face photo from the shared johns set (when there) as JPEG and PNG; else a synthetic picture."""
    image = None
    if env.shared is not None:
        johns = sorted((env.shared / "faces" / "johns").glob("*/*.jpg"))
        if johns:
            image = cv2.imread(str(johns[0]))
    image = synthetic_image(150, 150) if image is None else image
    bases = encoded_bases(image)
    return {k: bases[k] for k in ("jpeg", "jpeg-progressive", "png", "bmp", "webp") if k in bases}


def odd_array(rng: random.Random) -> tuple[str, np.ndarray]:
    """An in-memory image of an odd shape or type (as a camera or a caller could pass)."""
    shape = rng.choice(((0, 0, 3), (1, 1), (4, 4000, 3), (4000, 4, 3), (64, 64, 1), (64, 64, 2), (64, 64, 4),
                        (64, 64, 5), (64,), (2, 2, 2, 3), (120, 120, 3)))
    dtype = rng.choice((np.uint8, np.uint16, np.int64, np.float32, np.float64, np.bool_, np.complex64, np.int8))
    values = np.random.default_rng(rng.randrange(2**32)).uniform(-1e6, 1e6, size=shape)
    array = values.astype(dtype) if dtype is not np.bool_ else values > 0
    if dtype in (np.float32, np.float64) and array.size and rng.random() < 0.5:
        array.flat[::3] = rng.choice((np.nan, np.inf, -np.inf))
    return f"array {shape} {np.dtype(dtype).name}", array


def enrol_case(rng: random.Random, env: FuzzEnv, folder: Path):  # noqa: ANN201
    """Enroller.check_file on a mutated face photo (or Enroller.check on an odd array)."""
    enroller = env.enroller
    face_index = rng.choice((None, None, None, 0, 1, -1, 2**40))
    if rng.random() < 0.15:
        label, array = odd_array(rng)
        return f"{label}, face {face_index}", lambda: enroller.check(array, "array", face_index)
    bases = env.once("face_bases", lambda: _face_bases(env))
    if rng.random() < 0.1 and env.large:
        bases = env.once("large_bases", large_bases)
    label, data = mutated_image(rng, bases)  # type: ignore[arg-type]
    path = folder / "face.jpg"
    path.write_bytes(data)
    return f"{label}, face {face_index}", lambda: enroller.check_file(path, face_index)
