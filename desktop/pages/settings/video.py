"""The Settings tab's video groups: the video source (a camera from the list Find cameras fills, a camera
number, a video file or a stream URL, and how video files are paced) and the face detector (MTCNN or
YuNet with its .onnx file, the smallest face)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QSpinBox

from core.attendance.grabber import PACES
from desktop.config import DesktopConfig
from desktop.context import AppContext
from desktop.dialogs import open_file
from desktop.pages.settings.base import SettingsGroup, SettingsHost
from desktop.widgets.helpers import path_row, signals_blocked
from desktop.widgets.source_picker import SourcePicker

PACE_LABELS = {"realtime": "Real time (skip frames like a camera)", "every_frame": "Every frame (slower than real time)"}
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mkv *.mov *.gif);;All files (*)"


def is_stream_or_camera(source: str) -> bool:
    return source.strip().isdigit() or "://" in source


class SourceGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__("Video source", ctx, host)
        form = QFormLayout(self)
        self.source_picker = SourcePicker(ctx, "camera number (0, 1, …), a video file or a stream URL (rtsp://…)")
        self.source_edit = self.source_picker.edit  # its text is the source
        browse = QPushButton("Video file…")
        browse.setToolTip("Choose a video file as the source")
        browse.clicked.connect(self._browse_source)
        row = QHBoxLayout()
        row.addWidget(self.source_picker, 1)
        row.addWidget(browse)
        form.addRow("Source", row)
        self.pace_combo = QComboBox()
        self.pace_combo.setToolTip("How video files are read: at their own speed or every frame")
        for pace in PACES:
            self.pace_combo.addItem(PACE_LABELS.get(pace, pace), pace)
        form.addRow("Video files", self.pace_combo)
        apply = QPushButton("Apply source")
        apply.setToolTip("Use the source and pace chosen above")
        apply.clicked.connect(lambda: self.apply_source(self.source_edit.text(), self.pace_combo.currentData()))
        self.source_edit.returnPressed.connect(apply.click)
        self.source_picker.camera_chosen.connect(lambda index: self.apply_source(index, self.pace_combo.currentData()))
        form.addRow("", apply)

    def load(self, config: DesktopConfig) -> None:
        with signals_blocked(self.source_edit, self.pace_combo):
            self.source_edit.setText(config.source)
            self.pace_combo.setCurrentIndex(max(self.pace_combo.findData(config.file_pace), 0))

    def apply_source(self, source: str, file_pace: str | None = None) -> bool:
        source = source.strip()
        changes: dict[str, object] = {"source": source}
        if file_pace is not None:
            changes["file_pace"] = file_pace
        if source and not is_stream_or_camera(source) and not Path(source).is_file():
            return self._refuse("Video source", f"The video file {source} does not exist. Give a camera number, "
                                                f"an existing video file or a stream URL.")
        return self._apply("Video source", **changes)

    def _browse_source(self) -> None:
        path = open_file(self, "Video file", "", VIDEO_FILTER)
        if path:
            self.source_edit.setText(path)
            self.apply_source(path, self.pace_combo.currentData())


class DetectorGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__("Face detector", ctx, host)
        form = QFormLayout(self)
        self.detector_combo = QComboBox()
        self.detector_combo.setToolTip("The model that finds faces in each frame")
        self.detector_combo.addItem("MTCNN (default)", "mtcnn")
        self.detector_combo.addItem("YuNet (fast, needs its .onnx file)", "yunet")
        form.addRow("Detector", self.detector_combo)
        self.yunet_edit = QLineEdit()
        self.yunet_edit.setToolTip("The YuNet .onnx file (only for the YuNet detector)")
        self.yunet_edit.setPlaceholderText("face_detection_yunet_2023mar.onnx")
        form.addRow("YuNet model", path_row(self.yunet_edit, "Choose .onnx…", self._browse_yunet,
                                                  "Choose the YuNet .onnx file"))
        self.min_face_spin = QSpinBox()
        self.min_face_spin.setToolTip("Faces narrower than this are ignored")
        self.min_face_spin.setRange(12, 1000)
        self.min_face_spin.setSuffix(" px")
        form.addRow("Smallest face", self.min_face_spin)
        apply = QPushButton("Apply detector")
        apply.setToolTip("Use the detector and smallest face chosen above")
        apply.clicked.connect(lambda: self.apply_detector(self.detector_combo.currentData(), self.yunet_edit.text(),
                                                          self.min_face_spin.value()))
        form.addRow("", apply)
        self.detector_combo.currentIndexChanged.connect(
            lambda: self.yunet_edit.setEnabled(self.detector_combo.currentData() == "yunet"))

    def load(self, config: DesktopConfig) -> None:
        with signals_blocked(self.detector_combo, self.yunet_edit, self.min_face_spin):
            kind, _, onnx = config.detector.partition(":")
            self.detector_combo.setCurrentIndex(max(self.detector_combo.findData(kind), 0))
            if onnx:
                self.yunet_edit.setText(onnx)
            self.yunet_edit.setEnabled(kind == "yunet")
            self.min_face_spin.setValue(config.min_face_size)

    def apply_detector(self, kind: str, onnx_path: str = "", min_face_size: int | None = None) -> bool:
        title = "Face detector"
        changes: dict[str, object] = {}
        if min_face_size is not None:
            changes["min_face_size"] = int(min_face_size)
        if kind == "mtcnn":
            changes["detector"] = "mtcnn"
        elif kind == "yunet":
            onnx = onnx_path.strip()
            if not onnx:
                return self._refuse(title, "YuNet needs its model file: choose the .onnx file "
                                           "(face_detection_yunet_2023mar.onnx).")
            if not Path(onnx).is_file():
                return self._refuse(title, f"The YuNet model file {onnx} does not exist.")
            changes["detector"] = f"yunet:{onnx}"
        else:
            return self._refuse(title, f"Unknown detector '{kind}': choose MTCNN or YuNet.")
        return self._apply(title, **changes)

    def choose_yunet_file(self, path: str | Path) -> bool:
        self.yunet_edit.setText(str(path))
        return self.apply_detector("yunet", str(path), self.min_face_spin.value())

    def _browse_yunet(self) -> None:
        path = open_file(self, "YuNet model", "", "ONNX models (*.onnx)")
        if path:
            self.choose_yunet_file(path)
