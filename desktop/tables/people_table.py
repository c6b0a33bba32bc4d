"""The enrolled people as a table model: thumbnail, name, external id, group, samples, last update.

Rows are re-read from core (`Gallery.people(search)`) on `refresh()`, which the
owner connects to `ctx.gallery_changed`. Thumbnails (each person's first
sample) are decoded only when a view asks for them, and cached until the
person changes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QPixmap

from core.errors import RollcallError
from core.gallery import Person
from desktop.context import AppContext
from desktop.images import bgr_to_qimage, thumbnail

logger = logging.getLogger(__name__)

THUMB = 48
COLUMNS = ("", "Name", "External ID", "Group", "Samples", "Updated")
THUMB_COL, NAME_COL, EXTERNAL_ID_COL, GROUP_COL, SAMPLES_COL, UPDATED_COL = range(len(COLUMNS))


class PeopleTableModel(QAbstractTableModel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.search = ""
        self.people: list[Person] = []
        self._thumbs: dict[tuple[int, str], QPixmap] = {}  # (person id, updated_at) -> thumbnail
        self.thumbnails_decoded = 0  # for tests: how often a face was decoded
        self.refresh()
        ctx.gallery_changed.connect(self.refresh)

    # ------------------------------------------------------------------ core data

    def set_search(self, text: str) -> None:
        self.search = text.strip()
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self.people = self.ctx.gallery.people(self.search)
        alive = {(p.id, p.updated_at) for p in self.people}
        self._thumbs = {key: pix for key, pix in self._thumbs.items() if key in alive}
        self.endResetModel()

    def person_at(self, row: int) -> Person | None:
        return self.people[row] if 0 <= row < len(self.people) else None

    def row_of(self, person_id: int) -> int:
        """The row showing the person, or -1 when the search hides them."""
        return next((row for row, p in enumerate(self.people) if p.id == person_id), -1)

    def _thumbnail(self, person: Person) -> QPixmap:
        key = (person.id, person.updated_at)
        if key not in self._thumbs:
            pixmap = QPixmap()
            try:
                samples = self.ctx.gallery.samples(person.id)
                if samples:
                    pixmap = thumbnail(bgr_to_qimage(self.ctx.gallery.sample_face(samples[0].id)), THUMB)
                    self.thumbnails_decoded += 1
            except RollcallError as exc:  # deleted meanwhile: the next refresh drops the row
                logger.info("no thumbnail for person %d: %s", person.id, exc)
            self._thumbs[key] = pixmap
        return self._thumbs[key]

    # ------------------------------------------------------------------ Qt model

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.people)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.people):
            return None
        person, col = self.people[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME_COL:
                return person.name
            if col == EXTERNAL_ID_COL:
                return person.external_id or ""
            if col == GROUP_COL:
                return person.group_name
            if col == SAMPLES_COL:
                return person.n_samples
            if col == UPDATED_COL:
                return person.updated_at[:16].replace("T", " ")
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == THUMB_COL:
            return self._thumbnail(person)
        if role == Qt.ItemDataRole.SizeHintRole and col == THUMB_COL:
            return QSize(THUMB + 4, THUMB + 4)
        if role == Qt.ItemDataRole.ToolTipRole:
            return person.notes or None
        if role == Qt.ItemDataRole.TextAlignmentRole and col == SAMPLES_COL:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
