"""The marks of one session, newest first, with their evidence crops: the Live page's side panel."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QPixmap

from core.attendance.marks import Attendance, Mark
from desktop.images import jpeg_to_qimage, thumbnail

THUMB = 56


class SessionMarksModel(QAbstractListModel):
    def __init__(self, attendance: Attendance) -> None:
        super().__init__()
        self.attendance = attendance
        self.session_id: int | None = None
        self.marks: list[Mark] = []
        self._thumbs: dict[int, QPixmap] = {}

    def set_session(self, session_id: int | None) -> None:
        self.session_id = session_id
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self.marks = list(reversed(self.attendance.marks(self.session_id))) if self.session_id is not None else []
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.marks)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        mark = self.marks[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            how = "manual" if mark.manual else f"confidence {mark.confidence}" if mark.confidence is not None else ""
            return f"{mark.person_name}\n{mark.marked_at[11:19]}  {how}"
        if role == Qt.ItemDataRole.DecorationRole:
            if mark.id not in self._thumbs:
                self._thumbs[mark.id] = thumbnail(jpeg_to_qimage(self.attendance.evidence(mark.id)), THUMB)
            return self._thumbs[mark.id]
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(200, THUMB + 6)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{mark.person_name} marked at {mark.marked_at} ({mark.source or 'manual'})"
        return None
