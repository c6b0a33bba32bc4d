"""Hostile image files (issue 16): reading never blocks and never allocates without a bound, every decoder
problem is an ImageReadError naming the file, damaged decodes are not enrolled, any file-name encoding works,
and `identify FOLDER` goes on past bad files. Every input is made at test time."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import sys
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.errors import ImageReadError, ImageTooLargeError, path_text
from core.gallery.bulk import photos_in, plan_folder, run_jobs
from core.gallery.enrol import Enroller
from core.gallery.store import Gallery
from core.storage.db import Database
from core.vision.detect.yunet import YuNetDetector
from core.vision.image_headers import jpeg_info, sniff_size
from core.vision.imageio import MAX_IMAGE_BYTES, decode_image, read_image
from core.vision.pipeline import FacePipeline
from core.vision.quality import DAMAGED_FILL, uniform_fill
from tests.conftest import shared_path

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev need a POSIX system")


@contextlib.contextmanager
def fifo(path: Path):
    """A FIFO at `path`. Should a read block on it after all, a writer opens and closes it after 10 s, so the
    test fails on its assertions instead of hanging."""
    os.mkfifo(path)

    def release() -> None:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(10.0, release)
    timer.start()
    try:
        yield path
    finally:
        timer.cancel()


def non_utf8_copy(source: Path, folder: Path, name: bytes = b"caf\xe9.jpg") -> Path:
    """A copy of `source` whose file name is not valid UTF-8 (as Python sees it: lone surrogates)."""
    target = os.path.join(os.fsencode(folder), name)
    try:
        with open(target, "wb") as out:
            out.write(source.read_bytes())
    except OSError as exc:  # e.g. a file system that stores only UTF-8 names
        pytest.skip(f"this file system refuses non-UTF-8 names: {exc}")
    return Path(os.fsdecode(target))


def tiff_header(width: int, height: int, order: str = "<") -> bytes:
    """A deflate TIFF that declares width x height (one strip of a little deflated data)."""
    strip = zlib.compress(bytes(100_000))
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 200),
               (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, value in entries:
        packed = struct.pack(order + "HH", value, 0) if kind == 3 else struct.pack(order + "I", value)
        ifd += struct.pack(order + "HHI", tag, kind, 1) + packed
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8) + ifd + bytes(4)
    return head + bytes(200 - len(head)) + strip


def big_endian_grey_tiff(pixels: np.ndarray) -> bytes:
    """An uncompressed big-endian 8-bit grey TIFF (OpenCV writes only little-endian ones)."""
    height, width = pixels.shape
    entries = [(256, 3, width), (257, 3, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 200),
               (277, 3, 1), (278, 3, height), (279, 4, pixels.size)]
    ifd = struct.pack(">H", len(entries))
    for tag, kind, value in entries:
        packed = struct.pack(">HH", value, 0) if kind == 3 else struct.pack(">I", value)
        ifd += struct.pack(">HHI", tag, kind, 1) + packed
    head = b"MM\x00*" + struct.pack(">I", 8) + ifd + bytes(4)
    return head + bytes(200 - len(head)) + pixels.tobytes()


def huge_headers(side: int) -> dict[str, bytes]:
    """Files of each decoded format whose header declares side x side pixels (65535 x 65535 for the JPEG,
    which is decoded reduced up to 64x the cap); the data stops short."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    jpeg = bytearray(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65535, 65535)  # the most a JPEG can declare
    bmp = b"BM" + bytes(12) + struct.pack("<IiiHH", 40, side, side, 1, 24) + bytes(200)
    webp = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10) + bytes(4)
    webp += (side - 1).to_bytes(3, "little") * 2 + bytes(20)
    return {"png": png, "jpeg": bytes(jpeg), "bmp": bmp, "webp": webp, "tiff": tiff_header(side, side),
            "tiff-big-endian": tiff_header(side, side, ">"), "pgm": b"P5\n%d %d\n255\n" % (side, side) + bytes(4096),
            "ppm": b"P6\n# made by a test\n%d\n%d 255\n" % (side, side) + bytes(4096),
            "pbm": b"P4 %d %d\n" % (side, side) + bytes(4096)}


# -- reading: regular files only, a byte cap ------------------------------------------------------------------

@posix_only
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    with fifo(tmp_path / "x.jpg") as path, pytest.raises(ImageReadError) as err:
        read_image(path)
    assert "x.jpg is not a regular file (a FIFO)" in str(err.value) and "folder" not in str(err.value)


@posix_only
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_link_to_a_device_is_refused_unread(tmp_path: Path, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} is absent")
    link = tmp_path / "photo.jpg"
    link.symlink_to(device)
    with pytest.raises(ImageReadError, match=r"photo\.jpg is not a regular file \(a character device\)"):
        read_image(link)


def test_a_file_over_the_byte_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    with open(path, "wb") as out:
        out.truncate(MAX_IMAGE_BYTES + 1)  # sparse: nothing is written, and nothing may be read
    with pytest.raises(ImageTooLargeError, match=f"more than the {MAX_IMAGE_BYTES // 2**20} MB limit"):
        read_image(path)


def test_a_file_that_reports_no_size_is_read_only_up_to_the_cap(tmp_path: Path) -> None:
    """/proc files say they are empty (st_size 0) but hold more: reading stops one byte past the cap."""
    status = Path("/proc/self/status")
    if not status.is_file():
        pytest.skip("no /proc")
    link = tmp_path / "status.png"
    link.symlink_to(status)
    with pytest.raises(ImageTooLargeError, match="holds more than the 100 bytes limit"):
        read_image(link, max_bytes=100)


def test_a_link_to_nothing_says_so(tmp_path: Path) -> None:
    link = tmp_path / "gone.jpg"
    try:
        link.symlink_to(tmp_path / "deleted.jpg")
    except OSError:
        pytest.skip("cannot make symbolic links here")
    with pytest.raises(ImageReadError, match="link to a file that does not exist"):
        read_image(link)


# -- decoding: the size from every header first, other formats refused ------------------------------------------

@pytest.mark.parametrize("kind", list(huge_headers(30000)))
def test_every_decoded_format_is_size_checked_before_decoding(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"huge.{kind}"
    path.write_bytes(huge_headers(30000)[kind])
    side = 30000 if kind != "jpeg" else 65535  # a JPEG up to 64x the cap would be decoded at 1/8
    with pytest.raises(ImageTooLargeError, match=f"{side}x{side} pixels"):
        read_image(path)


def test_a_tiff_is_refused_at_the_size_a_png_is(tmp_path: Path) -> None:
    for kind in ("png", "tiff"):
        path = tmp_path / f"9000.{kind}"
        path.write_bytes(huge_headers(9000)[kind])
        with pytest.raises(ImageTooLargeError, match="9000x9000 pixels"):
            read_image(path)


def test_headers_of_small_images_give_their_size() -> None:
    assert sniff_size(b"P2\n# comment\n 7 # more\n5\n255\n") == ("pnm", (7, 5))
    assert sniff_size(b"P5 123456789012 3 255 ") == ("pnm", None)  # no real size has 12 digits
    assert sniff_size(tiff_header(321, 123, ">")) == ("tiff", (321, 123))
    tif = cv2.imencode(".tif", np.zeros((37, 53, 3), np.uint8))[1].tobytes()
    assert sniff_size(tif) == ("tiff", (53, 37))


def test_small_tiff_and_pnm_still_decode() -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = decode_image(big_endian_grey_tiff(pixels))
    assert out.shape == (3, 4, 3) and np.array_equal(out[..., 0], pixels)
    pgm = decode_image(b"P5\n# a comment\n4 3\n255\n" + pixels.tobytes())
    assert np.array_equal(pgm[..., 1], pixels)


@pytest.mark.parametrize("ext, name", [(".gif", "GIF"), (".pam", "PAM"), (".hdr", "Radiance HDR"),
                                       (".ras", "Sun raster"), (".pfm", "PFM"), (".avif", "AVIF")])
def test_formats_without_a_size_check_are_refused(tmp_path: Path, ext: str, name: str) -> None:
    img = np.full((8, 8, 3), 90, np.uint8)
    try:
        ok, data = cv2.imencode(ext, img.astype(np.float32) / 255 if ext in (".hdr", ".pfm") else img)
    except cv2.error:
        ok = False
    if not ok:
        pytest.skip(f"this OpenCV cannot write {ext}")
    path = tmp_path / "photo.jpg"  # the name does not matter: OpenCV goes by the content
    path.write_bytes(data.tobytes())
    with pytest.raises(ImageReadError, match=f"{name} images are not supported"):
        read_image(path)


def test_jpegs_that_buffer_the_whole_image_are_not_decoded_reduced(tmp_path: Path) -> None:
    """A progressive JPEG keeps every coefficient of the full image while decoding: unlike a baseline one
    it is not decoded reduced past twice the pixel cap. Too many scans (each a pass over the image) are refused."""
    img = cv2.resize(read_image(shared_path("faces", "misc", "obama_small.jpg")), (200, 200))
    baseline = cv2.imencode(".jpg", img)[1].tobytes()
    progressive = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert decode_image(baseline, max_pixels=10_000).shape == (100, 100, 3)  # 4x the cap: decoded at 1/2
    assert decode_image(progressive, max_pixels=20_000).shape == (100, 100, 3)  # 2x the cap: still allowed
    with pytest.raises(ImageTooLargeError, match="200x200 pixels.*progressive"):
        decode_image(progressive, max_pixels=10_000)
    last_scan = progressive.rfind(b"\xff\xda")
    many = progressive[:last_scan] + progressive[last_scan:-2] * 300 + b"\xff\xd9"
    with pytest.raises(ImageReadError, match=r"the JPEG has 3\d\d scans, more than the 200"):
        decode_image(many)


def test_a_decoder_error_is_an_image_read_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wide.pgm"
    path.write_bytes(b"P5\n60000 60000\n255\n" + bytes(4096))
    with pytest.raises(ImageTooLargeError, match="60000x60000"):
        read_image(path)
    # With the cap lifted, OpenCV's own limit raises cv2.error: it comes out as an ImageReadError.
    with pytest.raises(ImageReadError, match="PNM decoder could not read it") as err:
        decode_image(path.read_bytes(), path, max_pixels=10**10)
    assert str(path) in str(err.value)


# -- enrolment: damaged decodes, any name -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline(yunet_path: Path, default_embedder) -> FacePipeline:
    return FacePipeline(YuNetDetector(yunet_path), default_embedder)


@pytest.fixture
def enroller(pipeline: FacePipeline):
    db = Database(":memory:")
    yield Enroller(pipeline, Gallery(db), jitters=0)
    db.close()


def damaged_copies(photo: Path) -> dict[str, bytes]:
    """The photo's JPEG with one bit flipped in the frame height (the decoder runs out of data and fills the
    rest), and cut at 30 % with an end marker added (the same fill after the cut)."""
    data = photo.read_bytes()
    (_, height), progressive, sof = jpeg_info(data)  # the frame's header, not its EXIF thumbnail's
    assert not progressive and height < 2048, "a baseline JPEG under 2048 rows is needed"
    flipped = bytearray(data)
    flipped[sof + 5] |= 0x08  # the height's high byte: obama.jpg's 1137 rows become 3185
    return {"bit-flipped": bytes(flipped), "truncated": data[: len(data) * 3 // 10] + b"\xff\xd9"}


@pytest.mark.parametrize("damage", ["bit-flipped", "truncated"])
def test_a_damaged_jpeg_is_not_enrolled(enroller: Enroller, tmp_path: Path, damage: str) -> None:
    path = tmp_path / f"{damage}.jpg"
    path.write_bytes(damaged_copies(shared_path("faces", "misc", "obama.jpg"))[damage])
    image = read_image(path)
    assert uniform_fill(image) > DAMAGED_FILL  # the decoder filled most of it
    verdict = enroller.check_file(path)
    assert not verdict.ok and "looks damaged" in verdict.reason and "% uniform fill" in verdict.reason


def test_a_face_crossed_by_damage_is_not_enrolled(enroller: Enroller) -> None:
    image = read_image(shared_path("faces", "misc", "obama.jpg"))
    box = enroller.pipeline.detect(image)[0].box
    middle = int((box[1] + box[3]) / 2)
    image[middle : int(box[3]) + 1] = 128  # grey rows from the middle of the face down to its chin only
    assert uniform_fill(image) < DAMAGED_FILL
    verdict = enroller.check(image, "half.jpg")
    assert not verdict.ok and "the face looks damaged" in verdict.reason


@pytest.mark.parametrize("parts", [("faces", "misc", "obama.jpg"), ("faces", "misc", "biden.jpg"),
                                   ("faces", "misc", "obama-240p.jpg"), ("video", "hamilton_refs", "alex-lacamoire.png"),
                                   ("video", "hamilton_refs", "lin-manuel-miranda.png")])
def test_normal_photos_are_far_from_the_damage_bound(parts: tuple[str, ...]) -> None:
    assert uniform_fill(read_image(shared_path(*parts))) < DAMAGED_FILL / 2


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="file names there are always Unicode")
def test_non_utf8_names_and_fifos_in_a_bulk_folder(enroller: Enroller, tmp_path: Path) -> None:
    folder = tmp_path / "people" / "Barack Obama"
    folder.mkdir(parents=True)
    photo = non_utf8_copy(shared_path("faces", "misc", "obama_small.jpg"), folder)
    with fifo(folder / "x.jpg"):
        assert photos_in(folder) == [photo, folder / "x.jpg"]  # listed, so that the check names it
        first = run_jobs(enroller, plan_folder(enroller.gallery, tmp_path / "people"))
        again = run_jobs(enroller, plan_folder(enroller.gallery, tmp_path / "people"))
    outcome = first.outcomes[0]
    assert outcome.state == "enrolled" and outcome.usable == 1
    assert [r for r in outcome.rejected if "x.jpg is not a regular file (a FIFO)" in r]
    source = enroller.gallery.db.conn.execute("SELECT source FROM samples").fetchone()[0]
    assert source == path_text(photo) and source.endswith("caf\\xe9.jpg")
    assert again.outcomes[0].already_stored == 1 and again.outcomes[0].usable == 0  # the same file is not added again


# -- the command line -----------------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path: Path, yunet_path: Path, capsys: pytest.CaptureFixture[str]):
    db = tmp_path / "cli.db"

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--db", str(db), "--detector", f"yunet:{yunet_path}", *argv])
        out = capsys.readouterr()  # a strict UTF-8 stream: an unescaped non-UTF-8 name would raise
        return code, out.out, out.err

    return run


@posix_only
@pytest.mark.skipif(sys.platform == "darwin", reason="file names there are always Unicode")
def test_enroll_and_identify_a_folder_past_bad_files(cli, tmp_path: Path) -> None:
    photos = tmp_path / "in"
    photos.mkdir()
    good = non_utf8_copy(shared_path("faces", "misc", "obama_small.jpg"), photos)
    with fifo(photos / "x.jpg") as pipe:
        code, out, _ = cli("enroll", "Barack Obama", str(good), str(pipe))
        assert code == 0 and "enrolled Barack Obama" in out and "1 sample(s)" in out
        assert "caf\\xe9.jpg: ok" in out and "x.jpg is not a regular file (a FIFO)" in out

        shutil.copy(shared_path("faces", "misc", "obama2.jpg"), photos / "obama2.jpg")
        (photos / "notes.png").write_bytes(b"not a picture at all")
        (photos / "wide.tif").write_bytes(tiff_header(30000, 30000))
        code, out, err = cli("identify", str(photos))
        assert code == 1 and "obama2.jpg: Barack Obama" in out and "caf\\xe9.jpg: Barack Obama" in out
        assert "3 file(s) could not be read" in err
        assert "x.jpg: x.jpg is not a regular file (a FIFO)" in err and "notes.png: it is not an image format" in err
        assert "wide.tif: it is 30000x30000 pixels" in err and "Traceback" not in err

        code, _, err = cli("identify", str(pipe))
        assert code == 2 and "not a regular file (a FIFO)" in err and "folder" not in err

