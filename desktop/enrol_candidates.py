"""The samples gathered in the enrolment wizard before anything is saved: each photo or camera
capture with its enrolment verdict (None while the check runs) and whether the operator keeps it.

One list model serves both the wizard's sample list and its preview grid: the
aligned crop as the icon, the source and the verdict as text, and a check box
(only for usable samples) to accept or reject each crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap

from core.gallery.enrol import SampleVerdict
from desktop.images import bgr_to_qimage, thumbnail

ICON = 112


@dataclass
class Candidate:
    id: int
    source: str  # the photo's path, or which camera frame
    label: str  # short text for the list
    verdict: SampleVerdict | None = None  # None while the check runs
    accepted: bool = False  # the operator keeps it (only usable samples can be accepted)
    preview: QImage | None = None  # what to show before the aligned crop is known
    image: np.ndarray | None = None  # a camera frame's pixels (a photo is read again from its file)
    boxes: list[tuple[float, float, float, float]] | None = None  # faces, in `preview` pixels, left to right
    face_index: int | None = None  # the face the operator chose in a photo with several

    @property
    def needs_choice(self) -> bool:
        """Several faces were found and one can be chosen by clicking it."""
        return bool(self.boxes) and len(self.boxes) > 1 and self.preview is not None

    @property
    def checking(self) -> bool:
        return self.verdict is None

    @property
    def usable(self) -> bool:
        return self.verdict is not None and self.verdict.ok

    @property
    def status(self) -> str:
        if self.verdict is None:
            return "checking…"
        if not self.verdict.ok:
            return self.verdict.reason
        return "accepted" if self.accepted else "rejected by you"


class CandidatesModel(QAbstractListModel):
    acceptance_changed = Signal()  # a sample's verdict arrived, or the operator accepted / rejected one

    def __init__(self) -> None:
        super().__init__()
        self.candidates: list[Candidate] = []
        self._next_id = 1
        self._icons: dict[int, QPixmap] = {}

    # ------------------------------------------------------------------ content

    def add(self, source: str, label: str | None = None, preview: QImage | None = None) -> Candidate:
        candidate = Candidate(self._next_id, source, label or Path(source).name or source, preview=preview)
        self._next_id += 1
        row = len(self.candidates)
        self.beginInsertRows(QModelIndex(), row, row)
        self.candidates.append(candidate)
        self.endInsertRows()
        return candidate

    def set_verdict(self, candidate_id: int, verdict: SampleVerdict, preview: QImage | None = None,
                    boxes: list[tuple[float, float, float, float]] | None = None) -> Candidate | None:
        """A check finished: usable samples start accepted; `preview` replaces what is shown when the
        verdict has no crop, `boxes` are its faces. None when the candidate was removed meanwhile."""
        row = self.row_of(candidate_id)
        if row < 0:
            return None
        candidate = self.candidates[row]
        candidate.verdict = verdict
        candidate.accepted = verdict.ok
        if preview is not None:
            candidate.preview = preview
            candidate.boxes = boxes
        self._icons.pop(candidate.id, None)
        index = self.index(row)
        self.dataChanged.emit(index, index)
        self.acceptance_changed.emit()
        return candidate

    def choose_face(self, candidate_id: int, face_index: int) -> Candidate | None:
        """The operator chose face `face_index` of a photo with several: checked again (verdict None)."""
        row = self.row_of(candidate_id)
        if row < 0:
            return None
        candidate = self.candidates[row]
        candidate.face_index, candidate.verdict, candidate.accepted = face_index, None, False
        candidate.label = f"{candidate.label.split(' (face ')[0]} (face {face_index + 1})"
        self._icons.pop(candidate.id, None)
        index = self.index(row)
        self.dataChanged.emit(index, index)
        self.acceptance_changed.emit()
        return candidate

    def set_accepted(self, row: int, accepted: bool) -> bool:
        if not 0 <= row < len(self.candidates) or not self.candidates[row].usable:
            return False
        self.candidates[row].accepted = accepted
        index = self.index(row)
        self.dataChanged.emit(index, index)
        self.acceptance_changed.emit()
        return True

    def remove(self, row: int) -> None:
        if 0 <= row < len(self.candidates):
            self.beginRemoveRows(QModelIndex(), row, row)
            candidate = self.candidates.pop(row)
            self._icons.pop(candidate.id, None)
            self.endRemoveRows()
            self.acceptance_changed.emit()

    def row_of(self, candidate_id: int) -> int:
        return next((row for row, c in enumerate(self.candidates) if c.id == candidate_id), -1)

    def accepted_verdicts(self) -> list[SampleVerdict]:
        return [c.verdict for c in self.candidates if c.usable and c.accepted]

    @property
    def pending(self) -> int:
        return sum(c.checking for c in self.candidates)

    @property
    def usable(self) -> int:
        return sum(c.usable for c in self.candidates)

    # ------------------------------------------------------------------ Qt model

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.candidates)

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and self.candidates[index.row()].usable:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.candidates):
            return None
        candidate = self.candidates[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{candidate.label}\n{candidate.status}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(candidate)
        if role == Qt.ItemDataRole.CheckStateRole and candidate.usable:
            return Qt.CheckState.Checked if candidate.accepted else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{candidate.source}\n{candidate.status}"
        if role == Qt.ItemDataRole.ForegroundRole and candidate.verdict is not None and not candidate.verdict.ok:
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(ICON + 60, ICON + 40)
        return None

    def setData(self, index: QModelIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid():
            return False
        checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value, 2)
        return self.set_accepted(index.row(), checked)

    def _icon(self, candidate: Candidate) -> QPixmap | None:
        if candidate.id not in self._icons:
            verdict = candidate.verdict
            if verdict is not None and verdict.crop is not None:
                self._icons[candidate.id] = thumbnail(bgr_to_qimage(verdict.crop), ICON)
            elif candidate.preview is not None:
                self._icons[candidate.id] = thumbnail(candidate.preview, ICON)
            else:
                return None
        return self._icons[candidate.id]
