"""The enrolled people as a table model: thumbnail, name, external id, groups, samples, last update.

Rows are re-read from core (`Gallery.people(search)`, then kept to one group or to
people in no group when a group filter is set, without the people whose delete waits) on `refresh()`, which the
owner connects to `ctx.gallery_changed`. Thumbnails (each person's first
sample) are decoded only when a view asks for them, and cached until the
person changes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap

from core.errors import RollcallError
from core.gallery.store import Person
from desktop.context import AppContext
from desktop.images import bgr_to_qimage, thumbnail
from desktop.tables.records import RecordTableModel

logger = logging.getLogger(__name__)

THUMB = 48
COLUMNS = ("", "Name", "External ID", "Groups", "Samples", "Updated")
THUMB_COL, NAME_COL, EXTERNAL_ID_COL, GROUP_COL, SAMPLES_COL, UPDATED_COL = range(len(COLUMNS))


class PeopleTableModel(RecordTableModel):
    columns = COLUMNS
    right_aligned = frozenset({SAMPLES_COL})

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.search = ""
        self.group: str | None = None  # None: everyone; "": people in no group; else a group's name
        self.hidden: set[int] = set()  # people whose delete waits (the page can still undo it)
        self._thumbs: dict[tuple[int, str], QPixmap] = {}  # (person id, updated_at) -> thumbnail
        self.thumbnails_decoded = 0  # for tests: how often a face was decoded
        self.refresh()
        ctx.gallery_changed.connect(self.refresh)

    # ------------------------------------------------------------------ core data

    def set_search(self, text: str) -> None:
        self.search = text.strip()
        self.refresh()

    def set_group_filter(self, group: str | None) -> None:
        self.group = group
        self.refresh()

    def refresh(self) -> None:
        people = self.ctx.service.gallery.people(self.search)
        if self.group is not None:
            wanted = self.group.casefold()
            people = [p for p in people if (wanted in {g.casefold() for g in p.groups} if wanted else not p.groups)]
        people = [p for p in people if p.id not in self.hidden]
        alive = {(p.id, p.updated_at) for p in people}
        self._thumbs = {key: pix for key, pix in self._thumbs.items() if key in alive}
        self.set_records(people)

    @property
    def people(self) -> list[Person]:
        return self.records

    def person_at(self, row: int) -> Person | None:
        return self.record_at(row)

    def _thumbnail(self, person: Person) -> QPixmap:
        key = (person.id, person.updated_at)
        if key not in self._thumbs:
            pixmap = QPixmap()
            try:
                samples = self.ctx.service.gallery.samples(person.id)
                if samples:
                    pixmap = thumbnail(bgr_to_qimage(self.ctx.service.gallery.sample_face(samples[0].id)), THUMB)
                    self.thumbnails_decoded += 1
            except RollcallError as exc:  # deleted meanwhile: the next refresh drops the row
                logger.info("no thumbnail for person %d: %s", person.id, exc)
            self._thumbs[key] = pixmap
        return self._thumbs[key]

    def display(self, person: Person, col: int) -> object:
        if col == NAME_COL:
            return person.name
        if col == EXTERNAL_ID_COL:
            return person.external_id or ""
        if col == GROUP_COL:
            return "; ".join(person.groups)
        if col == SAMPLES_COL:
            return person.n_samples
        if col == UPDATED_COL:
            return person.updated_at[:16].replace("T", " ")
        return None

    def role_data(self, person: Person, col: int, role: int) -> object:
        if role == Qt.ItemDataRole.DecorationRole and col == THUMB_COL:
            return self._thumbnail(person)
        if role == Qt.ItemDataRole.SizeHintRole and col == THUMB_COL:
            return QSize(THUMB + 4, THUMB + 4)
        if role == Qt.ItemDataRole.ToolTipRole:
            return person.notes or None
        return None
