"""Image sizes read from file headers, before any decoder runs.

OpenCV's `imdecode` picks its decoder from the content, not the name, and some of its decoders
allocate whatever a header declares. So Rollcall decodes only the formats whose header is parsed here
(`DECODED_FORMATS`) and refuses the others (GIF, PAM, PFM, HDR, Sun raster, JPEG 2000, AVIF, BigTIFF) by
their signature before `imdecode` sees them. Every parser is bounded: it reads a fixed number of
header fields or segments, never the whole file.
"""

from __future__ import annotations

import struct

DECODED_FORMATS = ("jpeg", "png", "bmp", "tiff", "webp", "pnm")
# Formats OpenCV would decode but Rollcall refuses (no size check here), by signature.
REFUSED_SIGNATURES = (
    (b"GIF8", "GIF"), (b"P7", "PAM"), (b"PF", "PFM"), (b"Pf", "PFM"), (b"#?RADIANCE", "Radiance HDR"),
    (b"#?RGBE", "Radiance HDR"), (b"\x59\xa6\x6a\x95", "Sun raster"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"), (b"II+\x00", "BigTIFF"), (b"MM\x00+", "BigTIFF"),
)
MAX_JPEG_SEGMENTS = 1000  # marker segments walked before the frame header; real files have a few dozen
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257


def refused_format(data: bytes) -> str | None:
    """The name of a format OpenCV reads but Rollcall refuses, when `data` starts like one."""
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    return next((name for sign, name in REFUSED_SIGNATURES if data.startswith(sign)), None)


def sniff_size(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """(format, (width, height)) from the header of PNG, JPEG, BMP, TIFF, WebP, PBM/PGM/PPM or GIF bytes.

    Format is None when unknown; size is None when the header is cut short or malformed.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return "png", struct.unpack(">II", data[16:24])
        return "png", None
    if data[:2] == b"\xff\xd8":
        info = jpeg_info(data)
        return "jpeg", info[0] if info else None
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return "gif", struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM":
        return "bmp", _bmp_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff", _tiff_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", _webp_size(data)
    if len(data) >= 3 and data[:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return "pnm", _pnm_size(data)
    return None, None


def jpeg_info(data: bytes) -> tuple[tuple[int, int], bool, int] | None:
    """((width, height), progressive, offset of the frame header) from a JPEG; None when there is none in
    reach. Segments are walked by their lengths, so an EXIF thumbnail's header is never taken for it."""
    i, n = 2, len(data)
    for _ in range(MAX_JPEG_SEGMENTS):
        while i + 1 < n and data[i] == 0xFF and data[i + 1] == 0xFF:  # fill bytes before a marker
            i += 1
        if i + 4 > n or data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or image data before any frame header
            return None
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return (width, height), marker in _JPEG_PROGRESSIVE, i
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def jpeg_scans(data: bytes, start: int = 0) -> int:
    """How many scans (start-of-scan markers from `start`, the frame header's offset, on: an EXIF thumbnail
    has its own) a JPEG has. Each is a pass over the whole image; inside scan data 0xFF is always stuffed."""
    return data.count(b"\xff\xda", start)


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    header = struct.unpack("<I", data[14:18])[0]
    if header == 12:  # OS/2 core header: 16-bit sizes
        return struct.unpack("<HH", data[18:22])
    if header < 16:
        return None
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first directory (the image OpenCV decodes); big- or little-endian."""
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    offset = struct.unpack(order + "I", data[4:8])[0]
    if offset + 2 > len(data):
        return None
    count = struct.unpack(order + "H", data[offset : offset + 2])[0]
    found: dict[int, int] = {}
    for k in range(count):
        entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        if len(entry) < 12:
            return None
        tag, kind, _ = struct.unpack(order + "HHI", entry[:8])
        if tag in (_TIFF_WIDTH, _TIFF_HEIGHT):
            if kind == 3:  # SHORT, left-aligned in the value field
                found[tag] = struct.unpack(order + "H", entry[8:10])[0]
            elif kind == 4:  # LONG
                found[tag] = struct.unpack(order + "I", entry[8:12])[0]
            else:
                return None
        if len(found) == 2:
            return found[_TIFF_WIDTH], found[_TIFF_HEIGHT]
    return None


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PBM, PGM or PPM: whitespace-separated numbers, '#' comments between them."""
    numbers: list[int] = []
    i, n = 2, min(len(data), 4096)
    while len(numbers) < 2 and i < n:
        c = data[i : i + 1]
        if c.isspace():
            i += 1
        elif c == b"#":
            end = data.find(b"\n", i, n)
            i = n if end < 0 else end + 1
        elif c.isdigit():
            start = i
            while i < n and data[i : i + 1].isdigit():
                i += 1
            if i - start > 10:  # more than 10 digits: no real size, and int() of it could be slow
                return None
            numbers.append(int(data[start:i]))
        else:
            return None
    return (numbers[0], numbers[1]) if len(numbers) == 2 else None


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
