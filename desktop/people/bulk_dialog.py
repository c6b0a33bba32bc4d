"""What the class-list import and the enrol-from-folder dialogs share: choose a source, read a preview
of it in the background, then run the work in the background with a progress bar and Cancel, and show
the report at the end.

Workers run the subclass's `read` and `execute` with their own service (`ctx.service.connect()`) and
never touch a widget; what they return comes back to `show_preview` / `describe` on the GUI thread.
Failures show their message in the dialog and go to the notifier. Esc while work runs cancels it (the
dialog stays open for the report); the Cancel button does the same.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar,
    QPushButton, QVBoxLayout, QWidget,
)

from core.errors import RollcallError
from core.gallery.bulk import BulkReport
from core.service import Rollcall
from desktop.context import AppContext
from desktop.people.common import fit_size, read_only_table
from desktop.tasks import Task, TaskControl
from desktop.widgets.helpers import ERROR_STYLE


def report_text(report: BulkReport) -> str:
    """The report for the operator: the summary, who needs more photos, then everyone."""
    lines = [report.summary()]
    if report.needing_photos:
        lines += ["", "Need more photos:"] + [f"  • {o.describe()}" for o in report.needing_photos]
    others = [o for o in report.outcomes if not o.needs_more]
    if others:
        lines += ["", "Everyone else:"] + [f"  • {o.describe()}" for o in others]
    return "\n".join(lines)


class BulkDialog(QDialog):
    """Subclasses set the class attributes and implement read / show_preview / can_run / run_args /
    execute / describe."""

    source_label = "&File:"
    choose_text = "&Choose…"
    choose_tip = ""  # the tooltips of the choose and run buttons
    columns: tuple[str, ...] = ()
    stretch_column = 1
    run_text = "&Run"
    run_tip = ""
    preview_title = "Reading"
    run_title = "Running"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.preview: Any = None
        self.result: Any = None
        self.task: Task | None = None  # the preview or run in progress
        self.running = False  # the run (not the preview) is in progress
        self._generation = 0  # a newer preview makes an older one's answer stale

        self.source_edit = QLineEdit()
        self.source_edit.setToolTip("Type or paste the path, then Enter to preview what will happen")
        self.source_edit.returnPressed.connect(lambda: self.load(self.source_edit.text()))
        self.choose_button = QPushButton(self.choose_text)
        self.choose_button.setAutoDefault(False)
        self.choose_button.setToolTip(self.choose_tip)
        self.choose_button.clicked.connect(self.choose)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_edit, 1)
        source_row.addWidget(self.choose_button)
        self.form = QFormLayout()
        source_label = QLabel(self.source_label)
        source_label.setBuddy(self.source_edit)
        self.form.addRow(source_label, source_row)

        self.table = read_only_table(self.columns, stretch=self.stretch_column)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setVisible(False)
        self.report.setMaximumHeight(160)

        buttons = QDialogButtonBox()
        self.run_button = buttons.addButton(self.run_text, QDialogButtonBox.ButtonRole.ApplyRole)
        self.cancel_button = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.run_button.setDefault(True)
        self.run_button.setToolTip(self.run_tip)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.report)
        layout.addWidget(buttons)
        fit_size(self, 900, 600)
        self._update_buttons()

    # ------------------------------------------------------------------ to implement

    def choose(self) -> None:
        """Ask for the source (a file dialog) and `load` it."""
        raise NotImplementedError

    @staticmethod
    def read(service: Rollcall, source: str) -> Any:
        """On a worker: the preview of `source` (nothing written)."""
        raise NotImplementedError

    def show_preview(self, preview: Any) -> None:
        raise NotImplementedError

    def can_run(self, preview: Any) -> bool:
        raise NotImplementedError

    def run_args(self) -> dict[str, Any]:
        """Read from the widgets on the GUI thread before the run starts."""
        return {}

    @staticmethod
    def execute(service: Rollcall, preview: Any, control: TaskControl, **args: Any) -> Any:
        """On a worker: do the work, reporting progress and checking `control.cancelled`."""
        raise NotImplementedError

    def describe(self, result: Any) -> str:
        """The report's text (GUI thread); may notify."""
        raise NotImplementedError

    # ------------------------------------------------------------------ preview

    @property
    def busy(self) -> bool:
        return self.task is not None

    def load(self, source: str) -> Task | None:
        """Read a preview of `source` in the background (the table fills when it is read)."""
        source = source.strip()
        if not source or self.running:
            return None
        self.source_edit.setText(source)
        self._generation += 1
        generation = self._generation
        self.preview = None
        self.result = None
        self.table.setRowCount(0)
        self.error_label.clear()
        self.report.setVisible(False)
        self.progress.setVisible(False)
        self.progress_label.clear()
        self.summary_label.setText("Reading…")
        read = self.read

        def work(control: TaskControl) -> Any:
            with self.ctx.service.connect() as service:
                return read(service, source)

        task = self.ctx.tasks.run(self.preview_title, work,
                                  on_done=lambda preview: self._previewed(generation, preview),
                                  on_failed=lambda exc: self._preview_failed(generation, exc))
        self._track(task)
        return task

    def _previewed(self, generation: int, preview: Any) -> None:
        if generation != self._generation:
            return
        self.preview = preview
        self.show_preview(preview)
        self._update_buttons()

    def _preview_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.summary_label.clear()
            self._failed(self.preview_title, exc)

    def _failed(self, title: str, exc: BaseException) -> None:
        self.error_label.setText(str(exc) if isinstance(exc, RollcallError) else
                                 f"Unexpected error ({type(exc).__name__}: {exc}); details are in the log.")
        self.ctx.notifier.exception(title, exc)

    # ------------------------------------------------------------------ run

    def start(self) -> Task | None:
        """Run the previewed work in the background (progress, Cancel, then the report)."""
        if self.busy or self.preview is None or not self.can_run(self.preview):
            return None
        args = self.run_args()
        preview, execute = self.preview, self.execute

        def work(control: TaskControl) -> Any:
            with self.ctx.service.connect() as service:
                return execute(service, preview, control, **args)

        self.running = True
        self.error_label.clear()
        self.report.setVisible(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)  # busy until the first progress report says how much there is
        self.progress_label.setText("Starting…")
        task = self.ctx.tasks.run(self.run_title, work, on_done=self._ran, on_progress=self._progressed,
                                  on_failed=lambda exc: self._failed(self.run_title, exc))
        self._track(task)
        return task

    def _progressed(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if self.task is not None and self.task.cancel_requested.is_set():
            return
        self.progress_label.setText(f"Checked {done} of {total} photo(s)" + (f": {text}" if text else ""))

    def _ran(self, result: Any) -> None:
        self.result = result
        self.preview = None  # run once: a new preview (the same source again) for another run
        self.report.setPlainText(self.describe(result))
        self.report.setVisible(True)
        cancelled = bool(getattr(getattr(result, "report", result), "cancelled", False))
        if not cancelled:
            self.progress.setRange(0, max(self.progress.maximum(), 1))
            self.progress.setValue(self.progress.maximum())
        self.progress_label.setText("Cancelled." if cancelled else "Done.")

    def cancel(self) -> None:
        """Cancel the preview or run in progress; what finished stays (see the report)."""
        if self.task is None:
            return
        self.task.cancel()
        if self.running:
            self.progress_label.setText("Cancelling after the current photo…")
        else:  # a preview being read: its answer is dropped
            self._generation += 1
            self.summary_label.setText("Cancelled.")

    def _track(self, task: Task) -> None:
        self.task = task
        task.finished.connect(lambda: self._ended(task))
        self._update_buttons()

    def _ended(self, task: Task) -> None:
        if self.task is task:
            self.task = None
            self.running = False
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = not self.busy
        self.run_button.setEnabled(idle and self.preview is not None and self.can_run(self.preview))
        self.cancel_button.setEnabled(not idle)
        self.choose_button.setEnabled(not self.running)
        self.source_edit.setReadOnly(self.running)

    # ------------------------------------------------------------------ closing

    def reject(self) -> None:
        """Esc or Close: while the run goes on it is cancelled (the report still comes); otherwise close
        (a preview being read is dropped)."""
        if self.busy:
            self.cancel()
            if self.running:
                return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.running:
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)
