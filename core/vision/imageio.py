"""Reading image files and bringing any in-memory image to BGR uint8.

Bad files give `ImageReadError` naming the file and the problem. Images with
more pixels than `max_pixels` are never decoded at full size: JPEGs are decoded
reduced (libjpeg scales while decoding, so memory stays small), other formats
are refused with a message saying how large they are.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from core.protected_files import ensure_not_database_file
from core.errors import ImageReadError, ImageTooLargeError, InvalidImageError

DEFAULT_MAX_PIXELS = 40_000_000  # 40 MP: larger than any webcam or phone photo
_REDUCED_FLAGS = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image at `path` as BGR uint8 (H, W, 3), EXIF orientation applied for JPEGs."""
    path = Path(path)
    ensure_not_database_file(path, "an image")  # reading it would drop SQLite's locks
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(path, "the file does not exist") from None
    except IsADirectoryError:
        raise ImageReadError(path, "this is a folder, not an image") from None
    except OSError as exc:
        raise ImageReadError(path, f"the file cannot be opened ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError(path, "the file is empty (0 bytes)", "Take or copy the photo again.")
    return decode_image(data, path, max_pixels)


def decode_image(data: bytes, path: str | Path = "<memory>", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, BMP, TIFF, WebP, PGM...) to BGR uint8."""
    kind, size = sniff_size(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_COLOR if kind == "jpeg" else cv2.IMREAD_UNCHANGED
    if size is not None:
        width, height = size
        pixels = width * height
        if pixels > max_pixels:
            reduced = [f for n, f in _REDUCED_FLAGS if pixels / (n * n) <= max_pixels] if kind == "jpeg" else []
            if not reduced:
                raise ImageTooLargeError(
                    path,
                    f"it is {width}x{height} pixels ({pixels / 1e6:.0f} MP), more than the "
                    f"{max_pixels / 1e6:.0f} MP limit",
                    "Save a smaller copy of the photo and use that.",
                )
            flags = reduced[0]
    image = cv2.imdecode(buf, flags)
    if image is None:
        problem = "the file is truncated or corrupt" if kind else "it is not an image format Rollcall can read"
        raise ImageReadError(path, problem, "Use a JPEG or PNG photo.")
    if size is None and image.shape[0] * image.shape[1] > 4 * max_pixels:
        raise ImageTooLargeError(path, f"it is {image.shape[1]}x{image.shape[0]} pixels, too large to process")
    return to_bgr8(image, "bgr")


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


def sniff_size(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """(format, (width, height)) from the header of PNG, JPEG, GIF, BMP or WebP bytes.

    Format is None when unknown; size is None when the header cannot say.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return "png", struct.unpack(">II", data[16:24])
        return "png", None
    if data[:2] == b"\xff\xd8":
        return "jpeg", _jpeg_size(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return "gif", struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return "bmp", (abs(width), abs(height))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", _webp_size(data)
    return None, None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + seg_len
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None
