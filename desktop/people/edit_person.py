"""Edit a person: name, External ID, groups (ticked from the existing ones, or a new one typed in) and
notes. Saved through `ctx.service.update_person` (one small transaction, on the GUI thread); core's
refusal (an External ID another person has) is shown in the dialog, which stays open. Giving someone
a name another enrolled person has asks first (`ask` is injectable for tests)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
    QPlainTextEdit, QPushButton, QVBoxLayout, QWidget,
)

from core.errors import RollcallError
from core.gallery.groups import split_groups
from core.gallery.store import Person
from desktop.context import AppContext
from desktop.people.common import ask_non_modal, fit_size
from desktop.widgets.helpers import ERROR_STYLE

TITLE = "Editing a person"


def duplicate_question(name: str, others: list[Person]) -> str:
    ids = ", ".join(p.external_id or "none" for p in others)
    if len(others) == 1:
        return f"There is already a person called {name} (External ID {ids}). Save anyway?"
    return f"There are already {len(others)} people called {name} (External IDs {ids}). Save anyway?"


class EditPersonDialog(QDialog):
    saved = Signal(object)  # the Person as saved

    def __init__(self, ctx: AppContext, person: Person, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.person = person
        self.ask: Callable[[str, str, Callable[[], None]], None] = (
            lambda title, question, on_yes: ask_non_modal(self, title, question, on_yes))
        self.setWindowTitle(f"Edit {person.name}")

        self.name_edit = QLineEdit(person.name)
        self.name_edit.setToolTip("The name shown in registers and reports")
        self.external_id_edit = QLineEdit(person.external_id or "")
        self.external_id_edit.setToolTip("A student or staff number, to match class lists and exports")
        self.external_id_edit.setPlaceholderText("optional: a student or staff number (unique)")
        self.groups_list = QListWidget()
        self.groups_list.setToolTip("Tick every group the person belongs to (Space ticks the current one)")
        self.new_group_edit = QLineEdit()
        self.new_group_edit.setToolTip("Type a group that is not in the list, then Add group")
        self.new_group_edit.setPlaceholderText("a new group (several: separate with ;)")
        self.new_group_edit.installEventFilter(self)
        self.add_group_button = QPushButton("A&dd group")
        self.add_group_button.setToolTip("Add the typed group to the list, ticked")
        self.add_group_button.setAutoDefault(False)
        self.add_group_button.clicked.connect(self.add_new_group)
        self.notes_edit = QPlainTextEdit(person.notes or "")
        self.notes_edit.setTabChangesFocus(True)
        self.notes_edit.setMaximumHeight(90)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)

        mine = {g.casefold() for g in person.groups}
        for group in ctx.service.groups.all():
            self._add_group_item(group.name, group.name.casefold() in mine)
        for name in person.groups:  # a group of theirs that is not listed (cannot happen, but never drop one)
            if not self.groups_list.findItems(name, Qt.MatchFlag.MatchFixedString):
                self._add_group_item(name, True)

        new_row = QHBoxLayout()
        new_row.addWidget(self.new_group_edit, 1)
        new_row.addWidget(self.add_group_button)
        form = QFormLayout()
        for text, field in (("&Name:", self.name_edit), ("E&xternal ID:", self.external_id_edit),
                            ("&Groups:", self.groups_list)):
            label = QLabel(text)
            label.setBuddy(field)
            form.addRow(label, field)
        form.addRow("", new_row)
        notes_label = QLabel("N&otes:")
        notes_label.setBuddy(self.notes_edit)
        form.addRow(notes_label, self.notes_edit)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setDefault(True)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        fit_size(self, 520, 520)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """Enter in the new-group field adds the group (elsewhere it saves)."""
        if (watched is self.new_group_edit and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.add_new_group()
            return True
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------------ groups

    def _add_group_item(self, name: str, checked: bool) -> QListWidgetItem:
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.groups_list.addItem(item)
        return item

    def add_new_group(self) -> None:
        """Tick the typed group(s): an existing one is ticked, a new one is added (created on Save)."""
        try:
            names = split_groups(self.new_group_edit.text())
        except RollcallError as exc:
            self.error_label.setText(str(exc))
            return
        for name in names:
            found = self.groups_list.findItems(name, Qt.MatchFlag.MatchFixedString)  # case-insensitive
            item = found[0] if found else self._add_group_item(name, True)
            item.setCheckState(Qt.CheckState.Checked)
            self.groups_list.setCurrentItem(item)
        self.new_group_edit.clear()

    def checked_groups(self) -> list[str]:
        items = (self.groups_list.item(i) for i in range(self.groups_list.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    def set_groups(self, names: list[str]) -> None:
        """Tick exactly these groups (new names are added): for tests and staging."""
        wanted = {n.casefold() for n in names}
        for i in range(self.groups_list.count()):
            item = self.groups_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text().casefold() in wanted else Qt.CheckState.Unchecked)
        self.new_group_edit.setText("; ".join(n for n in names if not self.groups_list.findItems(
            n, Qt.MatchFlag.MatchFixedString)))
        self.add_new_group()

    # ------------------------------------------------------------------ saving

    def fields(self) -> dict[str, object]:
        if self.new_group_edit.text().strip():  # typed but not added: the operator meant it
            self.add_new_group()
        return {"name": self.name_edit.text().strip(), "external_id": self.external_id_edit.text().strip(),
                "groups": tuple(self.checked_groups()), "notes": self.notes_edit.toPlainText().strip()}

    def save(self) -> None:
        """Save, after asking when the new name is another enrolled person's too."""
        fields = self.fields()
        name = str(fields["name"])
        if not name:
            self.error_label.setText("A person needs a name.")
            self.name_edit.setFocus()
            return
        others = []
        if name.casefold() != self.person.name.casefold():  # a duplicate that already existed is not news
            try:
                others = self.ctx.service.people_named(name, exclude=self.person.id)
            except RollcallError as exc:
                self._failed(exc)
                return
        if others:
            self.ask("Same name", duplicate_question(name, others), lambda: self._write(fields))
        else:
            self._write(fields)

    def _write(self, fields: dict[str, object]) -> None:
        try:
            person = self.ctx.service.update_person(self.person.id, **fields)
        except RollcallError as exc:
            self._failed(exc)
            return
        self.person = person
        self.error_label.clear()
        self.saved.emit(person)
        self.accept()

    def _failed(self, exc: RollcallError) -> None:
        self.error_label.setText(str(exc))
        self.ctx.notifier.exception(TITLE, exc)
