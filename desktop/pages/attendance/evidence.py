"""The Attendance tab's Evidence box: the face crop kept with the selected mark (or why there is none)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout

from core.attendance.marks import Mark
from desktop.context import AppContext
from desktop.images import jpeg_to_qimage, thumbnail

EVIDENCE_SIZE = 160


class EvidenceBox(QGroupBox):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__("Evidence")
        self.ctx = ctx
        layout = QVBoxLayout(self)
        self.evidence_label = QLabel()
        self.evidence_label.setMinimumSize(EVIDENCE_SIZE, EVIDENCE_SIZE)
        self.evidence_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.evidence_caption = QLabel()
        self.evidence_caption.setWordWrap(True)
        layout.addWidget(self.evidence_label)
        layout.addWidget(self.evidence_caption)
        layout.addStretch(1)

    def show_evidence(self, mark: Mark | None) -> None:
        self.evidence_label.clear()
        if mark is None:
            self.evidence_caption.setText("Select a mark to see the face that was recognised.")
            return
        image = jpeg_to_qimage(self.ctx.service.attendance.evidence(mark.id))
        if image.isNull():
            self.evidence_caption.setText(
                f"{mark.person_name}: marked manually by {mark.operator or 'an operator'}, no photo." if mark.manual
                else f"{mark.person_name}: no evidence photo was kept for this mark.")
            return
        self.evidence_label.setPixmap(thumbnail(image, EVIDENCE_SIZE))
        sure = f", confidence {mark.confidence}" if mark.confidence is not None else ""
        self.evidence_caption.setText(f"{mark.person_name} at {mark.marked_at[11:19]}{sure}")
