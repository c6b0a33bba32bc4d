"""One person's stored face samples as a list model of thumbnails (the People page's side panel).
Re-read from core on `refresh()`; faces are decoded when first shown and cached."""

from __future__ import annotations

import logging

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QPixmap

from core.errors import RollcallError
from core.gallery.store import SampleInfo
from desktop.context import AppContext
from desktop.images import bgr_to_qimage, thumbnail

logger = logging.getLogger(__name__)

THUMB = 96


class SamplesListModel(QAbstractListModel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.person_id: int | None = None
        self.samples: list[SampleInfo] = []
        self._thumbs: dict[int, QPixmap] = {}
        ctx.gallery_changed.connect(self.refresh)

    def set_person(self, person_id: int | None) -> None:
        self.person_id = person_id
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        try:
            self.samples = self.ctx.service.gallery.samples(self.person_id) if self.person_id is not None else []
        except RollcallError as exc:
            logger.info("samples of person %s: %s", self.person_id, exc)
            self.samples = []
        ids = {s.id for s in self.samples}
        self._thumbs = {k: v for k, v in self._thumbs.items() if k in ids}
        self.endResetModel()

    def sample_at(self, row: int) -> SampleInfo | None:
        return self.samples[row] if 0 <= row < len(self.samples) else None

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.samples)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.samples):
            return None
        sample = self.samples[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            if sample.id not in self._thumbs:
                try:
                    face = self.ctx.service.gallery.sample_face(sample.id)
                    self._thumbs[sample.id] = thumbnail(bgr_to_qimage(face), THUMB)
                except RollcallError as exc:
                    logger.info("sample %d: %s", sample.id, exc)
                    self._thumbs[sample.id] = QPixmap()
            return self._thumbs[sample.id]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{sample.face_size:.0f} px"
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"from {sample.source or 'unknown'}\ncaptured {sample.captured_at[:19].replace('T', ' ')}\n"
                    f"face {sample.face_size:.0f} px, sharpness {sample.sharpness:.0f}, yaw {sample.yaw:+.2f}")
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(THUMB + 12, THUMB + 28)
        return None
