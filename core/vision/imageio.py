"""Reading image files and bringing any in-memory image to BGR uint8.

Bad files give `ImageReadError` naming the file and the problem. Reading never blocks and never
allocates without a bound:
- only regular files are opened (after following links): a FIFO would block, a device never ends;
- at most `MAX_IMAGE_BYTES` are read;
- only formats whose header gives the size are decoded (core.vision.image_headers), and an image with
  more pixels than `max_pixels` never is at full size: JPEGs are decoded reduced (libjpeg scales while
  decoding, so memory stays small), other formats are refused with a message saying how large they are;
- whatever the decoder reports becomes an `ImageReadError`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
import sys
from pathlib import Path

import cv2
import numpy as np

from core.protected_files import ensure_not_database_file
from core.errors import ImageReadError, ImageTooLargeError, InvalidImageError, file_kind
from core.vision.image_headers import DECODED_FORMATS, jpeg_info, jpeg_scans, refused_format, sniff_size

# The caps on what one image may cost. Bytes: a 40 MP photo is 10-25 MB as JPEG and 120 MB as an
# uncompressed 8-bit RGB TIFF/BMP/PPM; more is refused unread. Pixels: larger than any webcam or phone photo
# (the decoded BGR copy is 3 bytes a pixel, 120 MB at the cap). A JPEG of up to 64x the cap is decoded at
# 1/2, 1/4 or 1/8 scale, except one that buffers the whole image while decoding (progressive, or several
# scans: libjpeg keeps 2 bytes per coefficient of the full image), allowed up to 2x the cap at most.
# Scans: each is a pass over the whole image, so a file of many tiny scans could take hours.
MAX_IMAGE_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
BUFFERED_JPEG_FACTOR = 2
MAX_JPEG_SCANS = 200
_REDUCED_FLAGS = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
_SMALLER = "Save a smaller copy of the photo (JPEG or PNG) and use that."


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """The image at `path` as BGR uint8 (H, W, 3), EXIF orientation applied for JPEGs."""
    path = Path(path)
    ensure_not_database_file(path, "an image")  # reading it would drop SQLite's locks
    return decode_image(read_file_bytes(path, max_bytes), path, max_pixels)


def read_file_bytes(path: Path, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of the regular file at `path` (links followed), refusing anything else and files over
    `max_bytes`. Never blocks: the kind is checked before opening and again on the open descriptor
    (opened non-blocking, so a FIFO swapped in between cannot hang it)."""
    try:
        _check_regular(path, os.stat(path).st_mode)
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        problem = "it is a link to a file that does not exist" if os.path.islink(path) else "the file does not exist"
        raise ImageReadError(path, problem) from None
    except IsADirectoryError:
        raise ImageReadError(path, "this is a folder, not an image") from None
    except OSError as exc:
        raise ImageReadError(path, f"the file cannot be opened ({exc.strerror or exc})") from None
    except ValueError:  # a NUL character in the name
        raise ImageReadError(path, "this is not a valid file name") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        _check_regular(path, info.st_mode)
        if info.st_size > max_bytes:
            raise _too_many_bytes(path, info.st_size, max_bytes)
        try:
            data = handle.read(max_bytes + 1)  # files that grow, or that report no size, stop here too
        except OSError as exc:
            raise ImageReadError(path, f"the file cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise _too_many_bytes(path, None, max_bytes)
    if not data:
        raise ImageReadError(path, "the file is empty (0 bytes)", "Take or copy the photo again.")
    return data


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ImageReadError(path, "this is a folder, not an image")
    if not stat.S_ISREG(mode):
        raise ImageReadError(path, f"{path.name} is not a regular file ({file_kind(mode)})", "Choose a photo file.")


def _too_many_bytes(path: str | Path, size: int | None, max_bytes: int) -> ImageTooLargeError:
    """`size`: the file's size when known (None: it kept going past the cap)."""
    problem = f"it is {_amount(size)}, more than" if size is not None else "it holds more than"
    return ImageTooLargeError(path, f"{problem} the {_amount(max_bytes)} limit for an image file", _SMALLER)


def _amount(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def decode_image(data: bytes, path: str | Path = "<memory>", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, BMP, TIFF, WebP, PBM/PGM/PPM) to BGR uint8.

    The size is checked from the header before decoding; other formats are refused undecoded.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_many_bytes(path, len(data), MAX_IMAGE_BYTES)
    kind, size = sniff_size(data)
    if kind not in DECODED_FORMATS:
        other = refused_format(data)
        problem = f"{other} images are not supported" if other else "it is not an image format Rollcall can read"
        raise ImageReadError(path, problem, "Use a JPEG or PNG photo.")
    if size is None:
        raise ImageReadError(path, f"the file is truncated or corrupt (its {kind.upper()} header gives no size)",
                             "Take or copy the photo again.")
    flags = _decode_flags(data, kind, size, path, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except (cv2.error, MemoryError, OverflowError) as exc:
        reason = (getattr(exc, "err", "") or str(exc).strip().splitlines()[-1] or type(exc).__name__)[:200]
        raise ImageReadError(path, f"the {kind.upper()} decoder could not read it ({reason})",
                             "Save the photo again as JPEG or PNG, or take it again.") from None
    if image is None or image.size == 0:
        raise ImageReadError(path, "the file is truncated or corrupt", "Use a JPEG or PNG photo.")
    return to_bgr8(image, "bgr")


def _decode_flags(data: bytes, kind: str, size: tuple[int, int], path: str | Path, max_pixels: int) -> int:
    """imdecode's flags: JPEGs as colour (reduced when large), TIFF as 8-bit colour (its samples may be 64-bit
    floats), the rest unchanged so that alpha is composited over white. Raises when the image is too large."""
    width, height = size
    pixels = width * height
    flags = cv2.IMREAD_COLOR if kind in ("jpeg", "tiff") else cv2.IMREAD_UNCHANGED
    if kind == "jpeg":
        _, progressive, offset = jpeg_info(data)  # sniff_size found the frame header, so this does too
        scans = jpeg_scans(data, offset)
        if scans > MAX_JPEG_SCANS:
            raise ImageReadError(path, f"the JPEG has {scans} scans, more than the {MAX_JPEG_SCANS} Rollcall decodes",
                                 _SMALLER)
        if (progressive or scans > 1) and pixels > BUFFERED_JPEG_FACTOR * max_pixels:
            raise _too_many_pixels(path, width, height, BUFFERED_JPEG_FACTOR * max_pixels, " (progressive JPEG)")
    if pixels <= max_pixels:
        return flags
    reduced = [f for n, f in _REDUCED_FLAGS if pixels / (n * n) <= max_pixels] if kind == "jpeg" else []
    if not reduced:
        raise _too_many_pixels(path, width, height, max_pixels)
    return reduced[0]


def _too_many_pixels(path: str | Path, width: int, height: int, limit: int, what: str = "") -> ImageTooLargeError:
    return ImageTooLargeError(path, f"it is {width}x{height} pixels ({width * height / 1e6:.0f} MP), more than the "
                              f"{limit / 1e6:.0f} MP limit{what}", _SMALLER)


def to_bgr8(image: np.ndarray, color: str = "bgr") -> np.ndarray:
    """Any image array (grey, grey+alpha, BGR/RGB, BGRA/RGBA; uint8, uint16, float, bool) -> BGR uint8.

    `color` says how 3- and 4-channel input is ordered: "bgr" (OpenCV) or "rgb".
    Alpha is composited over white. uint16 is scaled to 8 bits; floats are
    taken as 0..1 when their maximum is at most 1, else as 0..255.
    """
    if color not in ("bgr", "rgb"):
        raise InvalidImageError(f"color must be 'bgr' or 'rgb', not {color!r}")
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"expected a numpy image array, got {type(image).__name__}")
    img = image
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (2, 3, 4)):
        raise InvalidImageError(f"unsupported image shape {image.shape}: need (H, W), (H, W, 3) or (H, W, 4)")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise InvalidImageError(f"the image is empty (shape {image.shape})")
    img = _to_uint8(img)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    channels = img.shape[2]
    if channels == 2:  # grey + alpha
        grey, alpha = img[:, :, 0], img[:, :, 1]
        img = np.dstack([grey, grey, grey, alpha])
        channels = 4
    if channels == 4:
        rgb = img[:, :, :3].astype(np.float32)
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = np.clip(rgb * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
    if color == "rgb":
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if img.dtype == np.uint16:
        return (img.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        finite = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(finite.max()) if finite.size else 0.0
        scale = 255.0 if peak <= 1.0 else 1.0
        return np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        return np.clip(img, 0, 255).astype(np.uint8)
    raise InvalidImageError(f"unsupported pixel type {img.dtype}")


__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_BYTES", "DEFAULT_MAX_PIXELS", "decode_image", "read_image",
           "read_file_bytes", "sniff_size", "to_bgr8"]


@functools.cache
def _malloc_trim():  # noqa: ANN202 - a ctypes function, or None where there is no glibc
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and others: nothing to trim
        return None


def return_freed_memory() -> None:
    """Hand the heap memory freed by the last image back to the system. Photos of many different sizes leave
    glibc's heap fragmented, so a loop over thousands of them grew with the data (1.9 GB for 3,157 photos)
    though it kept nothing; calling this after each image keeps it flat. A no-op where there is no glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
