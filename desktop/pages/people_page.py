"""The People tab: search and browse the enrolled people (by group too), see and edit one person's face
samples, enrol, edit and delete people; groups, a person's history, class lists and enrolling from a
folder are in desktop.people (`page.register`).

Everything that writes to the gallery runs as a background task through a worker-scoped service
(`ctx.service.connect()`), whose operations commit in a transaction and report what changed; the
context turns the report into `gallery_changed` / `attendance_changed`, and every table re-reads
core. Dialogs are non-modal (the edit dialog saves its one small transaction itself); the confirmation
for removing a sample is the injectable `ask` (tests replace it). The selection follows the person (by
id) and the scroll position is kept across refreshes. A delete waits UNDO_SECONDS (the person hidden,
an Undo bar shown) before it reaches core. With nobody enrolled, a first-run guide replaces the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListView, QPushButton, QSplitter,
    QStackedWidget, QTableView, QVBoxLayout, QWidget,
)

from core.errors import RollcallError
from core.gallery.store import GalleryError, Person
from core.service import Rollcall
from desktop.admin_gate import admin_allows
from desktop.context import AppContext
from desktop.dialogs import open_files_later
from desktop.enrol_wizard import PHOTO_FILTER, EnrolWizard
from desktop.people.common import ask_non_modal
from desktop.people.edit_person import EditPersonDialog
from desktop.people.page_register import PeopleRegister
from desktop.person_dialogs import UNDO_SECONDS, DeletePersonDialog, FirstRunGuide, UndoBar
from desktop.tables.people_table import NAME_COL, THUMB, THUMB_COL, PeopleTableModel
from desktop.tables.samples_list import SamplesListModel
from desktop.tasks import Task, TaskControl

logger = logging.getLogger(__name__)

ERROR_STYLE = "color: #b3261e;"


class PeoplePage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.ask: Callable[[str, str, Callable[[], None]], None] = (
            lambda title, question, on_yes: ask_non_modal(self, title, question, on_yes))
        self.wizard: EnrolWizard | None = None
        self.edit_dialog: EditPersonDialog | None = None
        self.delete_dialog: DeletePersonDialog | None = None
        self.pending_writes = 0  # gallery writes started and not yet reported back
        self._reselect: int | None = None
        self._scroll = 0
        self.pending_delete: tuple[int, bool, str] | None = None  # person id, erase history, name
        self.undo_timer = QTimer(self)
        self.undo_timer.setSingleShot(True)
        self.undo_timer.setInterval(UNDO_SECONDS * 1000)
        self.undo_timer.timeout.connect(self.commit_pending_delete)
        self.undo_bar = UndoBar()
        self.undo_bar.undo.connect(self.undo_delete)
        self.guide = FirstRunGuide()
        self.guide.enrol.connect(self.open_enrol_wizard)
        self.guide.import_list.connect(lambda: self.register.open_import_dialog())

        self.model = PeopleTableModel(ctx)
        self.samples_model = SamplesListModel(ctx)

        self.search_edit = QLineEdit()
        self.search_edit.setToolTip("Type part of a name, external ID or group to narrow the list")
        self.search_edit.setPlaceholderText("Search by name, external ID or group")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.model.set_search)
        self.enrol_button = QPushButton("Enrol new person…")
        self.edit_button = QPushButton("&Edit…")
        self.delete_button = QPushButton("Delete…")
        self.enrol_button.setToolTip("Add a person: their details, then photos or camera captures of their face")
        self.edit_button.setToolTip("Change the selected person's name, ID, groups or notes")
        self.delete_button.setToolTip("Remove the selected person (asks first; can be undone for a while)")
        self.enrol_button.clicked.connect(self.open_enrol_wizard)
        self.edit_button.clicked.connect(self.edit_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.count_label = QLabel()

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # groups take several
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME_COL, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(THUMB_COL, THUMB + 8)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.table.doubleClicked.connect(lambda index: self.edit_selected())
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)

        # side panel: the selected person's samples
        self.person_label = QLabel("Select a person to see their face samples.")
        self.person_label.setWordWrap(True)
        self.samples_view = QListView()
        self.samples_view.setModel(self.samples_model)
        self.samples_view.setViewMode(QListView.ViewMode.IconMode)
        self.samples_view.setIconSize(QSize(96, 96))
        self.samples_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.samples_view.setMovement(QListView.Movement.Static)
        self.samples_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.add_samples_button = QPushButton("Add photos…")
        self.remove_sample_button = QPushButton("Remove sample")
        self.add_samples_button.setToolTip("Add more photos of the selected person's face (better recognition)")
        self.remove_sample_button.setToolTip("Remove the selected face photo from this person (asks first)")
        self.add_samples_button.clicked.connect(self.choose_sample_photos)
        self.remove_sample_button.clicked.connect(self.remove_selected_sample)
        self.panel_message = QLabel()
        self.panel_message.setWordWrap(True)

        self.register = PeopleRegister(self)
        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        for button in (self.enrol_button, self.edit_button, self.delete_button):
            top.addWidget(button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(top)
        shown = QHBoxLayout()
        shown.addWidget(self.register.filter_label)
        shown.addWidget(self.register.group_filter)
        shown.addWidget(self.count_label, 1)
        left_layout.addLayout(shown)
        left_layout.addWidget(self.undo_bar)
        self.table_stack = QStackedWidget()  # the table, or the first-run guide while nobody is enrolled
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.guide)
        left_layout.addWidget(self.table_stack, 1)
        left_layout.addWidget(self.register.bar)
        panel = QWidget()
        panel_layout = QVBoxLayout(panel)
        panel_layout.setContentsMargins(0, 0, 0, 0)
        panel_layout.addWidget(self.person_label)
        panel_layout.addWidget(self.samples_view, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_samples_button)
        buttons.addWidget(self.remove_sample_button)
        panel_layout.addLayout(buttons)
        panel_layout.addWidget(self.panel_message)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.model.modelReset.connect(self._update_actions)
        self._update_actions()

    # ------------------------------------------------------------------ selection

    def selected_people(self) -> list[Person]:
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [p for p in (self.model.person_at(r) for r in rows) if p is not None]

    def selected_person(self) -> Person | None:
        """The current person when selected (else the first selected one, else the current one)."""
        index = self.table.selectionModel().currentIndex()
        current = self.model.person_at(index.row()) if index.isValid() else None
        people = self.selected_people()
        if current is not None and any(p.id == current.id for p in people):
            return current
        return people[0] if people else current

    def select_person(self, person_id: int) -> bool:
        row = self.model.row_of(person_id)
        if row < 0:
            return False
        self.table.selectionModel().setCurrentIndex(
            self.model.index(row, NAME_COL),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        return True

    def _remember_selection(self) -> None:
        person = self.selected_person()
        self._reselect = person.id if person else None
        self._scroll = self.table.verticalScrollBar().value()

    def _restore_selection(self) -> None:
        """After a refresh: the same person selected (wherever a rename sorted them), the view where it was."""
        self.table.updateGeometries()  # the scroll range of the new rows, now rather than at the next layout
        self.table.verticalScrollBar().setValue(self._scroll)
        if self._reselect is None or not self.select_person(self._reselect):
            self._show_person(None)
        else:
            self.table.scrollTo(self.table.currentIndex(), QAbstractItemView.ScrollHint.EnsureVisible)
        self._reselect = None

    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._show_person(self.model.person_at(current.row()) if current.isValid() else None)

    def _show_person(self, person: Person | None) -> None:
        if person is None:
            self.person_label.setText("Select a person to see their face samples.")
        else:
            self.person_label.setText(f"<b>{person.name}</b>: {person.n_samples} face sample(s)")
        if self.samples_model.person_id != (person.id if person else None):
            self.samples_model.set_person(person.id if person else None)
            self.panel_message.setText("")
        self._update_actions()

    def _update_actions(self) -> None:
        has_person = self.selected_person() is not None
        for button in (self.edit_button, self.delete_button, self.add_samples_button, self.remove_sample_button):
            button.setEnabled(has_person)
        self.register.update_actions()
        shown, total = self.model.rowCount(), self.ctx.service.gallery.count_people() - len(self.model.hidden)
        self.table_stack.setCurrentWidget(self.guide if total == 0 else self.table)
        self.count_label.setText(f"{total} people enrolled" if shown == total else f"{shown} of {total} people shown")

    def say(self, text: str, error: bool = False) -> None:
        """A message under the samples (an error in red)."""
        self.panel_message.setText(text)
        self.panel_message.setStyleSheet(ERROR_STYLE if error else "")

    # ------------------------------------------------------------------ background writes

    def _write(self, title: str, fn: Callable[[Rollcall], object],
               on_done: Callable[[object], None] | None = None) -> Task:
        """Run `fn(service)` on a worker with a worker-scoped service (its own connection, the app's
        subscribers): the operation's report reaches the context's signals, queued before `on_done`
        runs, so every view has re-read core by then. Failures go to the notifier and under the samples."""
        ctx = self.ctx

        def work(control: TaskControl) -> object:
            with ctx.service.connect() as service:
                return fn(service)

        def done(result: object) -> None:
            self.pending_writes -= 1
            if on_done is not None:
                on_done(result)

        def failed(exc: BaseException) -> None:
            self.pending_writes -= 1
            ctx.notifier.exception(title, exc)
            self.say(str(exc), error=True)

        self.pending_writes += 1
        return ctx.tasks.run(title, work, on_done=done, on_failed=failed)

    # ------------------------------------------------------------------ enrol

    def open_enrol_wizard(self) -> EnrolWizard:
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            self.wizard.activateWindow()
            return self.wizard
        wizard = EnrolWizard(self.ctx, self)
        wizard.enrolled.connect(lambda person: self.select_person(person.id))
        wizard.finished.connect(lambda _result: self._wizard_closed(wizard))
        self.wizard = wizard
        wizard.show()
        return wizard

    def _wizard_closed(self, wizard: EnrolWizard) -> None:
        if self.wizard is wizard:
            self.wizard = None
        wizard.deleteLater()  # its pending checks' callbacks are disconnected with it

    # ------------------------------------------------------------------ edit

    def edit_selected(self) -> EditPersonDialog | None:
        """Edit the selected person's name, External ID, groups and notes (see desktop.people.edit_person)."""
        person = self.selected_person()
        if person is None:
            return None
        if self.edit_dialog is not None:
            self.edit_dialog.close()
        dialog = EditPersonDialog(self.ctx, person, self)
        dialog.saved.connect(self._saved)
        dialog.finished.connect(lambda _result: self._edit_closed(dialog))
        self.edit_dialog = dialog
        dialog.open()
        return dialog

    def _edit_closed(self, dialog: EditPersonDialog) -> None:
        if self.edit_dialog is dialog:
            self.edit_dialog = None
        dialog.deleteLater()

    def _saved(self, person: Person) -> None:
        self.select_person(person.id)
        self.say(f"Saved {person.name}.")

    # ------------------------------------------------------------------ delete

    def delete_selected(self) -> DeletePersonDialog | None:
        """Ask first, naming what is lost: the samples, and the marks when the history is erased too."""
        person = self.selected_person()
        if person is None or not admin_allows(self, self.ctx, f"Deleting {person.name}"):
            return None
        n_marks = len(self.ctx.service.attendance.marks(person_id=person.id))
        self.delete_dialog = DeletePersonDialog(person, n_marks, self)
        self.delete_dialog.confirmed.connect(self.delete_person)
        self.delete_dialog.finished.connect(self.delete_dialog.deleteLater)
        self.delete_dialog.open()
        return self.delete_dialog

    def delete_person(self, person_id: int, erase_history: bool) -> None:
        """Hide the person and offer Undo; core deletes them when the time is up (or when another delete,
        or closing the app, comes first)."""
        if self.pending_delete is not None:
            self.commit_pending_delete()
        person = self.ctx.service.gallery.person(person_id)
        self.pending_delete = (person_id, erase_history, person.name)
        self.model.hidden.add(person_id)
        self.model.refresh()
        self.undo_bar.offer(f"Deleted {person.name}" + (" and their attendance history." if erase_history else ".")
                            + f" Undo within {UNDO_SECONDS} s.")
        self.undo_timer.start()

    def undo_delete(self) -> bool:
        """Bring back the person whose delete waits (nothing reached core); False when none waits."""
        pending = self._take_pending_delete()
        if pending is None:
            return False
        person_id, _, name = pending
        self.model.hidden.discard(person_id)
        self.model.refresh()
        self.select_person(person_id)
        self.say(f"{name} was not deleted.")
        return True

    def _take_pending_delete(self) -> tuple[int, bool, str] | None:
        """The waiting delete (person id, erase history, name), no longer waiting; None when none waits."""
        pending, self.pending_delete = self.pending_delete, None
        if pending is not None:
            self.undo_timer.stop()
            self.undo_bar.hide()
        return pending

    def commit_pending_delete(self) -> Task | None:
        """The waiting delete goes to core now (in the background); None when none waits."""
        pending = self._take_pending_delete()
        if pending is None:
            return None
        person_id, erase_history, name = pending
        operator = self.ctx.config.operator
        what = (f"{name} deleted with their attendance history" if erase_history
                else f"{name} deleted; their attendance marks are kept")

        def delete(service: Rollcall) -> None:
            service.erase_person(person_id, erase_marks=erase_history, operator=operator)

        def done(_result: object) -> None:
            self.model.hidden.discard(person_id)
            self.ctx.notifier.info("Person deleted", what)

        return self._write("Deleting a person", delete, on_done=done)

    # ------------------------------------------------------------------ samples

    def choose_sample_photos(self) -> None:
        person = self.selected_person()
        if person is None:
            return
        open_files_later(self, f"Photos of {person.name}", lambda paths: self.add_samples(person.id, paths),
                         name_filter=PHOTO_FILTER)

    def add_samples(self, person_id: int, paths: list[str | Path]) -> Task | None:
        """Check the photos like the enrolment wizard does and add the usable ones, all in the
        background; what was rejected is reported with each file's reason."""
        try:
            _ = self.ctx.pipeline  # raises while the models are not loaded
        except RollcallError as exc:  # the models are not loaded (yet)
            self.ctx.notifier.exception("Adding samples", exc)
            self.say(str(exc), error=True)
            return None
        paths = [str(p) for p in paths]

        def add(service: Rollcall) -> tuple[Person, list[str]]:
            enroller = service.enroller()
            verdicts = [enroller.check_file(p) for p in paths]
            rejected = [f"{Path(v.source).name}: {v.reason}" for v in verdicts if not v.ok]
            if len(rejected) == len(verdicts):
                raise GalleryError("None of the photos is usable, nothing was added. " + "; ".join(rejected))
            return service.add_samples(person_id, verdicts), rejected

        def done(result: tuple[Person, list[str]]) -> None:
            person, rejected = result
            added = len(paths) - len(rejected)
            text = f"Added {added} sample(s) to {person.name}."
            if rejected:
                text += " Not usable: " + "; ".join(rejected)
                self.ctx.notifier.warning("Adding samples", text)
            self.say(text, error=bool(rejected))

        self.say(f"Checking {len(paths)} photo(s)…")
        return self._write("Adding samples", add, on_done=done)

    def selected_sample_id(self) -> int | None:
        rows = self.samples_view.selectionModel().selectedIndexes()
        sample = self.samples_model.sample_at(rows[0].row()) if rows else None
        return sample.id if sample else None

    def remove_selected_sample(self) -> None:
        sample_id = self.selected_sample_id()
        if sample_id is None:
            self.say("Select the sample to remove.", error=True)
            return
        self.ask("Remove sample", "Remove this face sample? The person's template is rebuilt without it.",
                 lambda: self.remove_sample(sample_id))

    def remove_sample(self, sample_id: int) -> Task:
        """Core refuses to remove a person's last sample; its message is shown and notified."""
        return self._write("Removing a sample", lambda service: service.remove_sample(sample_id),
                           on_done=lambda _: self.say("Sample removed."))

    def shutdown(self) -> None:
        pending = self._take_pending_delete()
        if pending is not None:  # closing the app: the delete goes through now, here
            person_id, erase_history, _ = pending
            self.ctx.service.erase_person(person_id, erase_marks=erase_history, operator=self.ctx.config.operator)
        self.register.shutdown()
        if self.wizard is not None:
            self.wizard.shutdown()
