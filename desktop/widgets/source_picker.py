"""The video source field of the Live and Settings tabs: an editable list of the cameras connected
("0 — Integrated Webcam (640×480)"), filled in the background by *Find cameras*, that still takes a
typed camera number, video file or stream URL. The text is the source; choosing a camera sets it to
that camera's number."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from core.attendance.cameras import CameraInfo, list_cameras
from desktop.context import AppContext
from desktop.tasks import Task
from desktop.widgets.helpers import signals_blocked

# What Find cameras calls on a worker thread, as list_cameras(busy=..., cancelled=...); tests replace it
# (there is no camera in CI).
CAMERA_LISTER: Callable[..., list[CameraInfo]] = list_cameras

NOT_SEARCHED = "Find cameras lists the cameras connected to this computer"
NONE_FOUND = "No camera found: connect one, or choose a video file"


def found_text(count: int) -> str:
    return NONE_FOUND if count == 0 else "1 camera found" if count == 1 else f"{count} cameras found"


class SourcePicker(QWidget):
    """The editable camera list, its *Find cameras* button and a line saying what the search found.
    `edit` is the list's line edit: its text is the source. `busy` names the cameras the host has open
    (listed without being opened)."""

    camera_chosen = Signal(str)  # the number of the camera the operator picked from the list

    def __init__(self, ctx: AppContext, placeholder: str,
                 busy: Callable[[], Collection[int]] = tuple) -> None:
        super().__init__()
        self.ctx = ctx
        self.busy = busy
        self.cameras: list[CameraInfo] = []
        self.task: Task | None = None
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)  # Return does not add the text to the list
        self.combo.setCompleter(None)  # typing "1" must stay "1", not complete to a camera's label
        self.combo.setMinimumContentsLength(16)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setToolTip("Choose a camera from the list (Find cameras fills it), or type a camera number, "
                              "the path of a video file or a stream URL (rtsp://…)")
        self.edit: QLineEdit = self.combo.lineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.find_button = QPushButton("Find &cameras")
        self.find_button.setToolTip("Look for the cameras connected to this computer (each is opened for a "
                                    "moment to read its picture size; this can take a few seconds)")
        self.status_label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.find_button)
        layout.addWidget(self.status_label)
        self.combo.activated.connect(self.choose)
        self.find_button.clicked.connect(self.refresh)
        self.show_cameras([], NOT_SEARCHED)  # the greyed line in the list until a search
        self._say("")

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # noqa: N802 - QLineEdit's name
        self.edit.setText(text)

    def refresh(self) -> Task:
        """Look for cameras on a worker thread (one search at a time); the list and the status line
        follow when it ends."""
        if self.task is not None:
            return self.task
        busy = frozenset(self.busy())
        lister = CAMERA_LISTER
        self.find_button.setEnabled(False)
        self._say("Looking for cameras…")
        self.task = self.ctx.tasks.run("Find cameras", lambda control: lister(busy=busy,
                                                                              cancelled=lambda: control.cancelled),
                                       on_done=self._found, on_failed=self._failed)
        self.task.cancelled.connect(self._ended)
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def show_cameras(self, cameras: Sequence[CameraInfo], status: str | None = None) -> None:
        """Fill the list, keeping the source typed; with no camera, one greyed line says why."""
        self.cameras = list(cameras)
        text = self.edit.text()
        status = found_text(len(self.cameras)) if status is None else status
        with signals_blocked(self.combo):
            self.combo.clear()
            for camera in self.cameras:
                self.combo.addItem(camera.label, camera.index)
            if not self.cameras:
                self.combo.addItem(status)
                model = self.combo.model()
                if isinstance(model, QStandardItemModel):
                    model.item(0).setEnabled(False)
            self.combo.setCurrentIndex(self.combo.findData(int(text)) if text.strip().isdecimal() else -1)
            self.edit.setText(text)
        widest = max((self.combo.fontMetrics().horizontalAdvance(self.combo.itemText(i))
                      for i in range(self.combo.count())), default=0)
        self.combo.view().setMinimumWidth(widest + 40)  # the labels are not cut short in the drop-down
        self._say(status)

    def choose(self, row: int) -> None:
        """The operator picked row `row` of the list: the source becomes that camera's number."""
        index = self.combo.itemData(row)
        if index is None:
            return
        with signals_blocked(self.combo):
            self.combo.setCurrentIndex(row)  # (already so when the operator picked it)
        self.edit.setText(str(index))
        camera = next((c for c in self.cameras if c.index == index), None)
        if camera is not None:
            self._say(f"Camera {camera.label}")
        self.camera_chosen.emit(str(index))

    def _found(self, cameras: list[CameraInfo]) -> None:
        self._ended()
        self.show_cameras(cameras)

    def _failed(self, exc: BaseException) -> None:
        self._ended()
        self._say("Could not look for cameras")
        self.ctx.notifier.exception("Find cameras", exc)

    def _ended(self) -> None:
        self.task = None
        self.find_button.setEnabled(True)
        if self.status_label.text() == "Looking for cameras…":
            self._say("")

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(text)
