"""The source field's camera list, with a fake camera search (there is no camera in CI): Find cameras
fills it in the background, choosing a camera sets its number, a typed path or URL still works."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from core.attendance.cameras import CameraInfo
from desktop.notifier import Notifier
from desktop.pages.live_page import LivePage
from desktop.pages.settings_page import SettingsPage
from desktop.tasks import TaskRunner
from desktop.widgets import source_picker
from desktop.widgets.source_picker import NONE_FOUND, SourcePicker

CAMERAS = [CameraInfo(0, "Integrated Webcam", (640, 480)), CameraInfo(2, "USB Camera", (1280, 720))]


class FakeLister:
    """Stands in for list_cameras: remembers how and on which thread it was called."""

    def __init__(self, cameras: list[CameraInfo] | Exception) -> None:
        self.cameras = cameras
        self.calls: list[dict] = []
        self.threads: list[threading.Thread] = []

    def __call__(self, **kwargs) -> list[CameraInfo]:
        self.calls.append(kwargs)
        self.threads.append(threading.current_thread())
        if isinstance(self.cameras, Exception):
            raise self.cameras
        return list(self.cameras)


@pytest.fixture
def lister(monkeypatch) -> FakeLister:
    fake = FakeLister(CAMERAS)
    monkeypatch.setattr(source_picker, "CAMERA_LISTER", fake)
    return fake


@pytest.fixture
def picker(qtbot):
    notifier = Notifier()
    ctx = SimpleNamespace(notifier=notifier, tasks=TaskRunner(notifier))  # all the picker uses of a context
    widget = SourcePicker(ctx, "camera number, video file or URL", busy=lambda: {5})
    qtbot.addWidget(widget)
    yield widget
    ctx.tasks.wait(10_000)


def labels(picker: SourcePicker) -> list[str]:
    return [picker.combo.itemText(i) for i in range(picker.combo.count())]


def search(qtbot, picker: SourcePicker) -> None:
    picker.refresh()
    assert picker.status_label.text() == "Looking for cameras…" and not picker.find_button.isEnabled()
    qtbot.waitUntil(lambda: picker.task is None, timeout=10_000)


def test_find_cameras_fills_the_list_in_the_background_and_keeps_the_typed_source(qtbot, picker, lister) -> None:
    picker.edit.setText("/videos/monday.mp4")
    search(qtbot, picker)
    assert labels(picker) == ["0 — Integrated Webcam (640×480)", "2 — USB Camera (1280×720)"]
    assert picker.status_label.text() == "2 cameras found" and picker.find_button.isEnabled()
    assert lister.threads[0] is not threading.main_thread()  # never on the GUI thread
    assert lister.calls[0]["busy"] == {5} and lister.calls[0]["cancelled"]() is False
    assert picker.text() == "/videos/monday.mp4"  # filling the list does not replace the source


def test_choosing_a_camera_sets_the_source_to_its_number(qtbot, picker, lister) -> None:
    search(qtbot, picker)
    chosen: list[str] = []
    picker.camera_chosen.connect(chosen.append)
    picker.choose(1)
    assert picker.text() == "2" and chosen == ["2"]
    assert picker.status_label.text() == "Camera 2 — USB Camera (1280×720)"

    picker.combo.setFocus()
    qtbot.keyClick(picker.combo, Qt.Key.Key_Up)  # the keyboard picks the camera above
    assert picker.text() == "0" and chosen == ["2", "0"]


def test_a_typed_path_or_number_stays_as_typed(qtbot, picker, lister) -> None:
    search(qtbot, picker)
    picker.edit.clear()
    qtbot.keyClicks(picker.edit, "rtsp://door-camera/stream")
    qtbot.keyClick(picker.edit, Qt.Key.Key_Return)
    assert picker.text() == "rtsp://door-camera/stream" and picker.combo.count() == 2  # not added to the list
    picker.edit.clear()
    qtbot.keyClicks(picker.edit, "2")
    assert picker.text() == "2"  # not completed to the camera's label


def test_no_camera_found_says_what_to_do(qtbot, picker, monkeypatch) -> None:
    monkeypatch.setattr(source_picker, "CAMERA_LISTER", FakeLister([]))
    picker.edit.setText("0")
    search(qtbot, picker)
    assert picker.status_label.text() == NONE_FOUND
    assert labels(picker) == [NONE_FOUND] and not picker.combo.model().item(0).isEnabled()
    picker.choose(0)  # the greyed line is not a source
    assert picker.text() == "0"


def test_a_failed_search_is_reported_and_can_be_tried_again(qtbot, picker, monkeypatch) -> None:
    monkeypatch.setattr(source_picker, "CAMERA_LISTER", FakeLister(OSError("camera driver crashed")))
    search(qtbot, picker)
    notices = [n for n in picker.ctx.notifier.history if n.level == "error"]
    assert notices and "camera driver crashed" in notices[-1].text and notices[-1].title == "Find cameras"
    assert picker.find_button.isEnabled() and picker.status_label.text() == "Could not look for cameras"


def test_the_live_and_settings_tabs_take_the_camera_chosen(qtbot, ctx, lister) -> None:
    live = LivePage(ctx)
    settings = SettingsPage(ctx)
    qtbot.addWidget(live)
    qtbot.addWidget(settings)
    try:
        search(qtbot, live.source_picker)
        assert lister.calls[-1]["busy"] == set()  # Live is not recognising from any camera
        live.source_picker.choose(1)
        assert live.source_edit.text() == "2"

        search(qtbot, settings.source_picker)
        settings.source_picker.choose(0)
        assert ctx.config.source == "0" and settings.source_edit.text() == "0"  # applied like a chosen file
    finally:
        live.shutdown()
