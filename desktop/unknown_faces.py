"""The review of the faces nobody matched that were kept ("Keep photos of faces nobody matched"): a grid
of the crops with when and in which session each was seen; Enrol as new person… (the crop goes through
the same quality gates as any enrolment, on a worker), Delete (the selected ones) and Delete all. Opened
from the Attendance tab; it re-reads the service whenever attendance changes (purges included)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QKeyEvent
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QInputDialog, QLabel, QListWidget,
                               QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout, QWidget)

from core.errors import RollcallError
from core.gallery.store import Person
from desktop.context import AppContext
from desktop.images import jpeg_to_qimage, thumbnail
from desktop.tasks import Task, TaskControl

TITLE = "Unknown faces"
THUMB_PX = 112


class UnknownFacesDialog(QDialog):
    def __init__(self, parent: QWidget | None, ctx: AppContext) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(TITLE)
        self.enrol_task: Task | None = None
        self.grid = QListWidget()
        self.grid.setViewMode(QListWidget.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.grid.setGridSize(QSize(THUMB_PX + 48, THUMB_PX + 52))
        self.grid.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.grid.setMovement(QListWidget.Movement.Static)
        self.grid.setWordWrap(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.itemSelectionChanged.connect(self.update_buttons)
        self.summary = QLabel()
        self.enrol_button = QPushButton("&Enrol as new person…")
        self.delete_button = QPushButton("&Delete")
        self.delete_all_button = QPushButton("Delete &all…")
        close = QPushButton("&Close")
        self.enrol_button.setToolTip("Enrol the selected faces as one new person")
        self.delete_button.setToolTip("Delete the selected faces")
        self.delete_all_button.setToolTip("Delete every kept face (asks first)")
        self.enrol_button.clicked.connect(self.ask_enrol)
        self.delete_button.clicked.connect(self.delete_selected)
        self.delete_all_button.clicked.connect(self.ask_delete_all)
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for button in (self.enrol_button, self.delete_button, self.delete_all_button):
            buttons.addWidget(button)
            button.setAutoDefault(False)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.grid, 1)
        layout.addLayout(buttons)
        self.resize(900, 600)
        self.setMaximumSize(1340, 720)  # fits 1366x768 with the window frame
        ctx.attendance_changed.connect(self.refresh)
        self.refresh()

    # ------------------------------------------------------------------ showing

    def refresh(self) -> None:
        selected = set(self.selected_ids())
        try:
            faces = self.ctx.service.unknown_faces()
        except RollcallError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            faces = []
        self.grid.clear()
        for face in faces:
            when = face.seen_at[:16].replace("T", " ")
            item = QListWidgetItem(QIcon(thumbnail(jpeg_to_qimage(face.jpeg), THUMB_PX)),
                                   f"{when}\n{face.session_name or 'no session'}")
            item.setData(Qt.ItemDataRole.UserRole, face.id)
            item.setToolTip(f"Seen {when}" + (f" in {face.session_name}" if face.session_name else "")
                            + (f" on {face.source}" if face.source else ""))
            self.grid.addItem(item)
            item.setSelected(face.id in selected)
        days = self.ctx.config.unknown_retention_days
        kept = f"kept {days} days" if days else "kept until deleted"
        self.summary.setText(f"{len(faces)} face{'s' if len(faces) != 1 else ''} nobody matched ({kept}; "
                             f"Settings → General).")
        if faces and not self.grid.selectedItems():
            self.grid.setCurrentRow(0)
        self.update_buttons()

    def selected_ids(self) -> list[int]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.grid.selectedItems()]

    def select_ids(self, ids: list[int]) -> None:
        self.grid.clearSelection()
        for row in range(self.grid.count()):
            item = self.grid.item(row)
            item.setSelected(item.data(Qt.ItemDataRole.UserRole) in ids)

    def update_buttons(self) -> None:
        n = len(self.selected_ids())
        busy = self.enrol_task is not None
        self.enrol_button.setEnabled(n == 1 and not busy)
        self.delete_button.setEnabled(n > 0 and not busy)
        self.delete_all_button.setEnabled(self.grid.count() > 0 and not busy)

    # ------------------------------------------------------------------ deleting

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Delete:  # Delete: the selected faces (the grid passes it up)
            self.delete_selected()
            event.accept()
            return
        super().keyPressEvent(event)

    def delete_selected(self) -> int:
        ids = self.selected_ids()
        if not ids or self.enrol_task is not None:
            return 0
        return self._delete(lambda: self.ctx.service.delete_unknown(ids))

    def ask_delete_all(self) -> None:
        answer = QMessageBox.question(self, TITLE, f"Delete all {self.grid.count()} kept faces? This cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_all()

    def delete_all(self) -> int:
        return self._delete(self.ctx.service.delete_all_unknown)

    def _delete(self, operation) -> int:
        try:
            deleted = operation()
        except RollcallError as exc:
            self.ctx.notifier.exception(TITLE, exc)
            return 0
        self.ctx.notifier.info(TITLE, f"{deleted} face{'s' if deleted != 1 else ''} deleted")
        return deleted

    # ------------------------------------------------------------------ enrolling

    def ask_enrol(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        name, ok = QInputDialog.getText(self, "Enrol as new person", "&Name of the person:")
        if ok and name.strip():
            self.enrol(ids[0], name.strip())

    def enrol(self, sighting_id: int, name: str) -> Task | None:
        """Enrol the kept face as a new person on a worker (detection and embedding are engine work)."""
        if self.enrol_task is not None:
            return None
        ctx = self.ctx

        def work(control: TaskControl) -> Person:
            control.progress(0, 0, f"Enrolling {name}")
            with ctx.service.connect() as service:
                return service.enrol_unknown(sighting_id, name)

        def done(person: Person) -> None:
            self.enrol_task = None
            ctx.notifier.info(TITLE, f"{person.name} enrolled from the kept face")
            self.update_buttons()

        def failed(exc: BaseException) -> None:
            self.enrol_task = None
            ctx.notifier.exception("Enrol as new person", exc)
            self.update_buttons()

        self.enrol_task = ctx.tasks.run("Enrol as new person", work, on_done=done, on_failed=failed)
        self.update_buttons()
        return self.enrol_task
