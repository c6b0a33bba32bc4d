from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import ImageReadError, ImageTooLargeError, InvalidImageError
from core.vision.imageio import decode_image, read_image, sniff_size, to_bgr8
from tests.conftest import shared_path


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_reads_a_jpeg_as_bgr_uint8() -> None:
    img = read_image(shared_path("faces", "misc", "obama.jpg"))
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_reads_grey_pgm_and_32bit_png() -> None:
    grey = read_image(shared_path("faces", "orl", "s1", "1.pgm"))
    assert grey.shape == (112, 92, 3)
    rgba = read_image(shared_path("faces", "misc", "32bit.png"))
    assert rgba.shape[2] == 3


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "does not exist"),
        (b"", "empty"),
        (b"this is a text file, not a picture", "not an image format"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "photo.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=problem) as err:
        read_image(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_images_are_reported(tmp_path: Path, ext: str) -> None:
    img = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    data = cv2.imencode(ext, img)[1].tobytes()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(path)


def test_a_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_huge_png_is_refused_from_its_header_without_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(20000, 20000))
    with pytest.raises(ImageTooLargeError, match="20000x20000"):
        read_image(path)


def test_large_jpeg_is_decoded_reduced(tmp_path: Path) -> None:
    img = np.zeros((800, 1200, 3), np.uint8)
    cv2.circle(img, (600, 400), 200, (0, 200, 255), -1)
    path = tmp_path / "big.jpg"
    path.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    out = read_image(path, max_pixels=300_000)  # 960k pixels -> decoded at 1/2 (240k)
    assert out.shape == (400, 600, 3)
    assert out[200, 300].tolist() == pytest.approx([0, 200, 255], abs=12)
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_pixels=10_000)  # even 1/8 (15k pixels) is too many


def test_sniff_size_reads_common_headers() -> None:
    img = np.zeros((37, 53, 3), np.uint8)
    for ext, kind in ((".png", "png"), (".jpg", "jpeg"), (".bmp", "bmp"), (".webp", "webp")):
        data = cv2.imencode(ext, img)[1].tobytes()
        assert sniff_size(data) == (kind, (53, 37)), ext


def test_one_pixel_image_decodes() -> None:
    data = cv2.imencode(".png", np.full((1, 1, 3), 7, np.uint8))[1].tobytes()
    assert decode_image(data).shape == (1, 1, 3)


class TestToBgr8:
    def test_grey_and_single_channel(self) -> None:
        grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
        assert np.array_equal(to_bgr8(grey)[..., 1], grey)
        assert to_bgr8(grey[..., None]).shape == (3, 4, 3)

    def test_rgb_order_is_swapped(self) -> None:
        rgb = np.zeros((2, 2, 3), np.uint8)
        rgb[..., 0] = 200  # red
        assert to_bgr8(rgb, "rgb")[0, 0].tolist() == [0, 0, 200]
        assert to_bgr8(rgb, "bgr")[0, 0].tolist() == [200, 0, 0]

    def test_alpha_is_composited_over_white(self) -> None:
        rgba = np.zeros((1, 2, 4), np.uint8)
        rgba[0, 0] = [0, 0, 0, 255]
        rgba[0, 1] = [0, 0, 0, 0]
        out = to_bgr8(rgba, "rgb")
        assert out[0, 0].tolist() == [0, 0, 0] and out[0, 1].tolist() == [255, 255, 255]

    def test_sixteen_bit_and_float(self) -> None:
        assert to_bgr8(np.full((2, 2), 65535, np.uint16))[0, 0].tolist() == [255, 255, 255]
        assert to_bgr8(np.full((2, 2, 3), 0.5, np.float32))[0, 0].tolist() == [128, 128, 128]
        assert to_bgr8(np.full((2, 2, 3), np.nan, np.float64))[0, 0].tolist() == [0, 0, 0]

    @pytest.mark.parametrize("shape", [(0, 5, 3), (4, 4, 5), (2, 2, 2, 2)])
    def test_unusable_shapes_are_rejected(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(InvalidImageError):
            to_bgr8(np.zeros(shape, np.uint8))

    def test_not_an_array(self) -> None:
        with pytest.raises(InvalidImageError, match="numpy"):
            to_bgr8([[1, 2], [3, 4]])  # type: ignore[arg-type]
