"""The Training tab's run controls: Start, Cancel and Resume, the progress bar with the ETA, and the
run's state in words. Step (and data preparation's) events only queue their progress;
`show_queued_progress()` (the page's ~10 Hz timer) shows the newest, since a progress bar repaints on
every change."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class RunControls(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self._queued: tuple[int, int, str] | None = None  # (step, total, ETA text) for the next refresh
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.setToolTip("Start a new training run with the settings above")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch and save a checkpoint that can be resumed")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the last run from its saved checkpoint")
        for b in (self.start_button, self.cancel_button, self.resume_button):
            row.addWidget(b)
        row.addStretch(1)
        v.addLayout(row)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("step %v / %m")
        row.addWidget(self.progress, 1)
        self.eta_label = QLabel("ETA –")
        row.addWidget(self.eta_label)
        v.addLayout(row)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        v.addWidget(self.status_label)

    def starting(self) -> None:
        """A run is starting: busy until it says how many steps it has."""
        self._queued = None
        self.progress.setRange(0, 0)
        self.eta_label.setText("ETA –")

    def preparing(self, done: int, total: int) -> None:
        """Data preparation: the bar counts faces until the run says how many steps it has."""
        self.progress.setFormat("face %v / %m")
        self.queue_progress(done, total, "ETA –")

    def run_started(self, start_step: int, total_steps: int) -> None:
        self._queued = None
        self.progress.setFormat("step %v / %m")
        self.progress.setRange(0, max(1, total_steps))
        self.progress.setValue(min(start_step, max(1, total_steps)))

    def queue_progress(self, step: int, total: int, eta_text: str) -> None:
        self._queued = (step, total, eta_text)

    def show_queued_progress(self) -> None:
        if self._queued is None:
            return
        step, total, eta = self._queued
        self._queued = None
        if total > 0:
            self.progress.setRange(0, total)
        self.progress.setValue(min(step, self.progress.maximum()))
        self.eta_label.setText(eta)

    def finished_at(self, step: int) -> None:
        self.progress.setValue(min(step, self.progress.maximum()))
