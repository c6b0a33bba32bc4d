"""Listing cameras with fake ones (there is no camera here or in CI): names from a fake sysfs, numbers
probed until misses, a hanging camera given up on, and every capture released."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from core.attendance.cameras import CameraInfo, list_cameras, v4l2_devices


class FakeCapture:
    def __init__(self, index: int, size: tuple[int, int] | None, gate: threading.Event | None = None) -> None:
        self.index, self.size, self.gate = index, size, gate
        self.released = threading.Event()

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.size is not None

    def read(self):
        if self.gate is not None:
            self.gate.wait()  # a driver that never answers until the test lets it
        return (True, np.zeros((self.size[1], self.size[0], 3), np.uint8)) if self.size else (False, None)

    def release(self) -> None:
        self.released.set()


class FakeCameras:
    """An opener over {index: frame size}; other numbers open nothing. Remembers every capture."""

    def __init__(self, sizes: dict[int, tuple[int, int]], *, hang: dict[int, threading.Event] | None = None,
                 broken: set[int] = frozenset()) -> None:
        self.sizes, self.hang, self.broken = sizes, hang or {}, broken
        self.opened: list[FakeCapture] = []

    def __call__(self, index: int) -> FakeCapture:
        if index in self.broken:
            raise OSError(f"driver error on camera {index}")
        cap = FakeCapture(index, self.sizes.get(index), self.hang.get(index))
        self.opened.append(cap)
        return cap

    @property
    def tried(self) -> list[int]:
        return [cap.index for cap in self.opened]


def fake_sysfs(root: Path, nodes: dict[str, tuple[str, str | None]]) -> Path:
    """video4linux as sysfs shows it: one folder per node with its `name` and `index` files."""
    for node, (name, index) in nodes.items():
        (root / node).mkdir(parents=True)
        (root / node / "name").write_text(name + "\n", encoding="utf-8")
        if index is not None:
            (root / node / "index").write_text(index + "\n", encoding="utf-8")
    return root


def test_linux_cameras_are_named_from_sysfs_and_their_metadata_nodes_left_out(tmp_path: Path) -> None:
    sysfs = fake_sysfs(tmp_path / "video4linux", {
        "video0": ("Integrated Webcam", "0"), "video1": ("Integrated Webcam", "1"),  # UVC metadata node
        "video10": ("USB Camera", "0"), "video2": ("Capture card", None), "video3": ("Loopback", "0"),
    })
    (sysfs / "v4l-subdev0").mkdir()  # not a video node
    cameras = FakeCameras({0: (640, 480), 2: (720, 576), 10: (1280, 720)})  # video3 delivers nothing

    found = list_cameras(opener=cameras, platform="linux", sysfs=sysfs)

    assert found == [CameraInfo(0, "Integrated Webcam", (640, 480)), CameraInfo(2, "Capture card", (720, 576)),
                     CameraInfo(10, "USB Camera", (1280, 720))]
    assert [c.label for c in found][0] == "0 — Integrated Webcam (640×480)"
    assert cameras.tried == [0, 2, 3, 10]  # the metadata node is never opened
    assert all(cap.released.is_set() for cap in cameras.opened)  # the one that delivered nothing too


def test_without_video4linux_there_is_no_camera_and_nothing_is_opened(tmp_path: Path) -> None:
    cameras = FakeCameras({0: (640, 480)})
    assert v4l2_devices(tmp_path / "missing") == []
    assert list_cameras(opener=cameras, platform="linux", sysfs=tmp_path / "missing") == []
    assert cameras.tried == []


def test_windows_numbers_are_probed_until_two_misses_in_a_row() -> None:
    cameras = FakeCameras({0: (640, 480), 1: (1280, 720), 3: (640, 480), 6: (640, 480)})

    found = list_cameras(opener=cameras, platform="win32")

    assert found == [CameraInfo(0, "Camera 0", (640, 480)), CameraInfo(1, "Camera 1", (1280, 720)),
                     CameraInfo(3, "Camera 3", (640, 480))]
    assert cameras.tried == [0, 1, 2, 3, 4, 5]  # one miss (2) is forgiven; 4 and 5 end the search before 6
    assert all(cap.released.is_set() for cap in cameras.opened)
    assert list_cameras(opener=FakeCameras({}), platform="win32") == []


def test_a_camera_the_app_is_using_is_listed_without_being_opened(tmp_path: Path) -> None:
    cameras = FakeCameras({0: (640, 480), 1: (640, 480)})
    found = list_cameras(opener=cameras, platform="win32", busy={0})
    assert found == [CameraInfo(0, "Camera 0", None), CameraInfo(1, "Camera 1", (640, 480))]
    assert found[0].label == "0 — Camera 0 (in use)" and 0 not in cameras.tried

    sysfs = fake_sysfs(tmp_path / "v4l", {"video0": ("Webcam", "0")})
    assert list_cameras(opener=cameras, platform="linux", sysfs=sysfs, busy={0}) == [CameraInfo(0, "Webcam", None)]


def test_a_camera_whose_driver_fails_is_skipped() -> None:
    cameras = FakeCameras({0: (640, 480), 2: (640, 480)}, broken={1})
    assert [c.index for c in list_cameras(opener=cameras, platform="darwin")] == [0, 2]


def test_a_hanging_camera_is_given_up_on_and_released_when_it_answers() -> None:
    gate = threading.Event()
    cameras = FakeCameras({0: (640, 480), 1: (1280, 720)}, hang={0: gate})
    try:
        found = list_cameras(opener=cameras, platform="win32", timeout_s=0.2)
        assert found == [CameraInfo(1, "Camera 1", (1280, 720))]  # the search went on past the stuck one
        stuck = cameras.opened[0]
        assert stuck.index == 0 and not stuck.released.is_set()

        again = list_cameras(opener=cameras, platform="win32", timeout_s=0.2)
        assert again == found and cameras.tried.count(0) == 1  # not opened a second time while stuck
    finally:
        gate.set()
    assert stuck.released.wait(10)
    for thread in threading.enumerate():
        if thread.name == "camera-probe-0":
            thread.join(10)
    cameras.hang.clear()
    assert [c.index for c in list_cameras(opener=cameras, platform="win32")] == [0, 1]  # answers now


def test_a_cancelled_search_stops_before_the_next_camera() -> None:
    cameras = FakeCameras({0: (640, 480), 1: (640, 480)})

    def cancelled() -> bool:
        return len(cameras.opened) >= 1  # the operator cancels once the first camera was opened

    assert [c.index for c in list_cameras(opener=cameras, platform="win32", cancelled=cancelled)] == [0]
    assert cameras.tried == [0]
