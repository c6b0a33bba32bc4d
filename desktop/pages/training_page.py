"""The Training tab. The trainer (a separate process that fine-tunes the models on the site's own
data and streams its progress as JSON lines) is issue 5; until it exists this tab says so."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.context import AppContext


class TrainingPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        layout = QVBoxLayout(self)
        text = QLabel(
            "<h3>Training</h3>"
            "<p>Fine-tuning the super-resolution and recognition models on this site's own faces will be "
            "started and followed from here. The trainer is not part of this version yet.</p>"
            "<p>Models trained elsewhere can already be used: choose the weights file under "
            "<b>Settings → Recognition model</b>; the gallery is re-embedded with it.</p>"
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(text)

    def shutdown(self) -> None:
        """Nothing runs here yet; the trainer's subprocess will be stopped here."""
