"""Groups: the manager (every group with its member count; create, rename, delete, and add or remove the
people selected on the People page) and the small chooser behind "Add to group…" / "Remove from
group…". Each write is one small transaction through `ctx.service` on the GUI thread; core's refusals
(a name taken, a group whose session is open) are shown in the dialog and sent to the notifier."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGridLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
    QWidget,
)

from core.errors import RollcallError
from core.gallery.groups import Group
from core.gallery.store import Person
from desktop.context import AppContext
from desktop.people.common import ask_non_modal, fit_size, read_only_table, set_row
from desktop.widgets.helpers import ERROR_STYLE

TITLE = "Groups"


class GroupsDialog(QDialog):
    def __init__(self, ctx: AppContext, selected_people: Callable[[], list[Person]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.selected_people = selected_people
        self.ask: Callable[[str, str, Callable[[], None]], None] = (
            lambda title, question, on_yes: ask_non_modal(self, title, question, on_yes))
        self.groups: list[Group] = []
        self.setWindowTitle("Groups")

        self.table = read_only_table(("Group", "Members"), stretch=0)
        self.table.itemSelectionChanged.connect(self._on_selected)
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("A group's name, for Create or Rename")
        self.name_edit.setPlaceholderText("a group's name, e.g. 7B or Choir")
        self.name_edit.textChanged.connect(self.update_buttons)
        self.create_button = QPushButton("&Create")
        self.rename_button = QPushButton("&Rename")
        self.delete_button = QPushButton("&Delete…")
        self.add_button = QPushButton("&Add selected people")
        self.remove_button = QPushButton("Re&move selected people")
        self.create_button.setToolTip("Make a new group with the name typed above")
        self.rename_button.setToolTip("Give the selected group the name typed above")
        self.delete_button.setToolTip("Delete the selected group (its people stay; asks first)")
        self.add_button.setToolTip("Put the people selected on the People tab in the selected group")
        self.remove_button.setToolTip("Take the people selected on the People tab out of the selected group")
        self.create_button.clicked.connect(self.create)
        self.rename_button.clicked.connect(self.rename)
        self.delete_button.clicked.connect(self.confirm_delete)
        self.add_button.clicked.connect(lambda: self.change_members(add=True))
        self.remove_button.clicked.connect(lambda: self.change_members(add=False))
        self.people_label = QLabel()
        self.people_label.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)

        name_label = QLabel("&Name:")
        name_label.setBuddy(self.name_edit)
        grid = QGridLayout()
        grid.addWidget(name_label, 0, 0)
        grid.addWidget(self.name_edit, 0, 1, 1, 2)
        grid.addWidget(self.create_button, 1, 0)
        grid.addWidget(self.rename_button, 1, 1)
        grid.addWidget(self.delete_button, 1, 2)
        grid.addWidget(self.people_label, 2, 0, 1, 3)
        grid.addWidget(self.add_button, 3, 0, 1, 2)
        grid.addWidget(self.remove_button, 3, 2)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for button in (self.rename_button, self.delete_button, self.add_button, self.remove_button,
                       buttons.button(QDialogButtonBox.StandardButton.Close)):
            button.setAutoDefault(False)  # Enter creates the typed group, nothing else (Esc closes)
        self.create_button.setDefault(True)
        layout = QVBoxLayout(self)
        table_label = QLabel("&Groups:")
        table_label.setBuddy(self.table)
        layout.addWidget(table_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(grid)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        fit_size(self, 520, 540)
        ctx.gallery_changed.connect(self.refresh)
        self.refresh()

    # ------------------------------------------------------------------ reading

    def refresh(self) -> None:
        selected = self.selected_group()
        self.groups = self.ctx.service.groups.all()
        self.table.setRowCount(len(self.groups))
        for row, group in enumerate(self.groups):
            set_row(self.table, row, [group.name, group.n_members])
        if selected is not None:
            self.select_group(selected.id)
        self.update_buttons()

    def selected_group(self) -> Group | None:
        rows = self.table.selectionModel().selectedRows()
        return self.groups[rows[0].row()] if rows and rows[0].row() < len(self.groups) else None

    def select_group(self, group_id: int) -> bool:
        for row, group in enumerate(self.groups):
            if group.id == group_id:
                self.table.selectRow(row)
                return True
        self.table.clearSelection()
        return False

    def _on_selected(self) -> None:
        group = self.selected_group()
        if group is not None:
            self.name_edit.setText(group.name)
        self.update_buttons()

    def update_buttons(self) -> None:
        group = self.selected_group()
        name = self.name_edit.text().strip()
        self.create_button.setEnabled(bool(name))
        self.rename_button.setEnabled(group is not None and bool(name) and name != group.name)
        self.delete_button.setEnabled(group is not None)
        people = self.selected_people()
        self.add_button.setEnabled(group is not None and bool(people))
        self.remove_button.setEnabled(group is not None and bool(people))
        self.people_label.setText(
            f"{len(people)} {'person' if len(people) == 1 else 'people'} selected on the People page: "
            f"{', '.join(p.name for p in people[:5])}"
            f"{'…' if len(people) > 5 else ''}" if people else "Select people on the People page to add or remove them.")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else "")

    def _failed(self, exc: RollcallError) -> None:
        self._say(str(exc), error=True)
        self.ctx.notifier.exception(TITLE, exc)

    # ------------------------------------------------------------------ writing

    def create(self) -> Group | None:
        try:
            group = self.ctx.service.create_group(self.name_edit.text())
        except RollcallError as exc:
            self._failed(exc)
            return None
        self.select_group(group.id)
        self._say(f"Created the group {group.name}.")
        return group

    def rename(self) -> Group | None:
        group = self.selected_group()
        if group is None:
            return None
        try:
            renamed = self.ctx.service.rename_group(group.id, self.name_edit.text())
        except RollcallError as exc:
            self._failed(exc)
            return None
        self._say(f"Renamed {group.name} to {renamed.name}.")
        return renamed

    def confirm_delete(self) -> None:
        group = self.selected_group()
        if group is None:
            return
        self.ask("Delete group", f"Delete the group {group.name}? Its {group.n_members} member(s) stay enrolled, "
                 f"and its past sessions keep their register.", lambda: self.delete(group.id))

    def delete(self, group_id: int) -> bool:
        try:
            name = self.ctx.service.groups.get(group_id).name
            self.ctx.service.delete_group(group_id)
        except RollcallError as exc:  # e.g. a session of the group is open
            self._failed(exc)
            return False
        self.name_edit.clear()
        self._say(f"Deleted the group {name}.")
        return True

    def change_members(self, add: bool) -> int | None:
        group = self.selected_group()
        people = self.selected_people()
        if group is None or not people:
            return None
        ids = [p.id for p in people]
        try:
            if add:
                changed = self.ctx.service.add_to_group(group.id, ids)
            else:
                changed = self.ctx.service.remove_from_group(group.id, ids)
        except RollcallError as exc:
            self._failed(exc)
            return None
        self._say(f"{'Added' if add else 'Removed'} {changed} of {len(ids)} selected people "
                  f"{'to' if add else 'from'} {group.name}"
                  f"{'' if changed == len(ids) else (' (the others were members already)' if add else ' (the others were not members)')}.")
        return changed


class ChooseGroupDialog(QDialog):
    """Which group: `chosen(name)` on OK. With `allow_new`, a typed name that is no group yet is created
    by the caller."""

    chosen = Signal(str)

    def __init__(self, title: str, prompt: str, names: list[str], allow_new: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.combo = QComboBox()
        self.combo.setToolTip("Choose a group")
        self.combo.setEditable(allow_new)
        self.combo.addItems(names)
        if allow_new:
            self.combo.lineEdit().setPlaceholderText("choose a group or type a new one")
            self.combo.setCurrentIndex(-1 if not names else 0)
        label = QLabel(prompt)
        label.setWordWrap(True)
        label.setBuddy(self.combo)
        form = QFormLayout()
        form.addRow(label)
        group_label = QLabel("&Group:")
        group_label.setBuddy(self.combo)
        form.addRow(group_label, self.combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setDefault(True)
        buttons.accepted.connect(self._choose)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        fit_size(self, 380, 140)

    def _choose(self) -> None:
        name = self.combo.currentText().strip()
        if not name:
            self.combo.setFocus()
            return
        self.accept()
        self.chosen.emit(name)
