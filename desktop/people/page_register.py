"""The register side of the People page: the group filter, the buttons and context menu for groups and
a person's history, and the class-list and folder dialogs. Each dialog is non-modal and kept while
open (opening it again brings it forward); a bulk dialog still working is never deleted under its task.

To show a dialog filled in (tests, screenshots): `open_groups_dialog()`, `open_history()` (for the
selected person), `open_import_dialog(path)`, `open_folder_dialog(folder, group)`, `add_selected_to_group()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QComboBox, QDialog, QGridLayout, QLabel, QMenu, QPushButton, QWidget

from core.errors import RollcallError
from desktop.people.folder_dialog import EnrolFolderDialog
from desktop.people.groups_dialog import ChooseGroupDialog, GroupsDialog
from desktop.people.history_dialog import HistoryDialog
from desktop.people.roster_dialog import ImportRosterDialog

if TYPE_CHECKING:
    from desktop.pages.people_page import PeoplePage

ALL, NO_GROUP = None, ""  # the group filter's values besides a group's name


class PeopleRegister:
    def __init__(self, page: PeoplePage) -> None:
        self.page = page
        self.ctx = page.ctx
        self.dialogs: dict[str, QDialog] = {}

        self.group_filter = QComboBox()
        self.group_filter.setToolTip("Show everyone, one group's members, or the people in no group")
        self.group_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.group_filter.setMinimumContentsLength(12)
        self.group_filter.currentIndexChanged.connect(
            lambda _i: page.model.set_group_filter(self.group_filter.currentData()))
        self.filter_label = QLabel("Sh&ow:")
        self.filter_label.setBuddy(self.group_filter)

        self.add_to_group_button = QPushButton("Add to gro&up…")
        self.remove_from_group_button = QPushButton("Re&move from group…")
        self.history_button = QPushButton("&History…")
        self.groups_button = QPushButton("&Groups…")
        self.import_button = QPushButton("&Import class list…")
        self.folder_button = QPushButton("Enrol from fol&der…")
        self.add_to_group_button.setToolTip("Put the selected people in a group (chosen or new)")
        self.remove_from_group_button.setToolTip("Take the selected people out of a group")
        self.history_button.setToolTip("The selected person's attendance, session by session")
        self.groups_button.setToolTip("Create, rename or delete groups and change their members")
        self.import_button.setToolTip("Add people from a spreadsheet of names (Excel or CSV)")
        self.folder_button.setToolTip("Enrol many people at once from a folder of photos")
        self.add_to_group_button.clicked.connect(self.add_selected_to_group)
        self.remove_from_group_button.clicked.connect(self.remove_selected_from_group)
        self.history_button.clicked.connect(self.open_history)
        self.groups_button.clicked.connect(self.open_groups_dialog)
        self.import_button.clicked.connect(lambda: self.open_import_dialog())
        self.folder_button.clicked.connect(lambda: self.open_folder_dialog())
        self.bar = QWidget()  # two rows of three: the page stays narrow enough for a small window
        bar = QGridLayout(self.bar)
        bar.setContentsMargins(0, 0, 0, 0)
        for i, button in enumerate((self.add_to_group_button, self.remove_from_group_button, self.history_button,
                                    self.groups_button, self.import_button, self.folder_button)):
            bar.addWidget(button, i // 3, i % 3)

        page.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        page.table.customContextMenuRequested.connect(self.show_context_menu)
        self.ctx.gallery_changed.connect(self.fill_group_filter)
        self.fill_group_filter()

    # ------------------------------------------------------------------ filter and actions

    def fill_group_filter(self) -> None:
        """All / each group (with its member count) / No group; keeps the choice while its group exists."""
        current = self.group_filter.currentData()
        self.group_filter.blockSignals(True)
        self.group_filter.clear()
        self.group_filter.addItem("All groups", ALL)
        for group in self.ctx.service.groups.all():
            self.group_filter.addItem(f"{group.name} ({group.n_members})", group.name)
        self.group_filter.addItem("No group", NO_GROUP)
        index = self.group_filter.findData(current)
        self.group_filter.setCurrentIndex(max(index, 0))
        self.group_filter.blockSignals(False)
        if index < 0 and current is not None:  # the group was renamed or deleted: show everyone
            self.page.model.set_group_filter(ALL)

    def set_group_filter(self, value: str | None) -> None:
        """ALL, NO_GROUP or a group's name (for tests and staging)."""
        self.group_filter.setCurrentIndex(max(self.group_filter.findData(value), 0))

    def update_actions(self) -> None:
        people = self.page.selected_people()
        self.add_to_group_button.setEnabled(bool(people))
        self.remove_from_group_button.setEnabled(any(p.groups for p in people))
        self.history_button.setEnabled(self.page.selected_person() is not None)
        groups = self.dialogs.get("groups")
        if isinstance(groups, GroupsDialog) and groups.isVisible():
            groups.update_buttons()

    def show_context_menu(self, pos: QPoint) -> QMenu:
        page = self.page
        menu = QMenu(page.table)
        person = page.selected_person()
        for text, slot, enabled in (("&Edit…", page.edit_selected, person is not None),
                                    ("&History…", self.open_history, person is not None),
                                    ("Add to gro&up…", self.add_selected_to_group, self.add_to_group_button.isEnabled()),
                                    ("Re&move from group…", self.remove_selected_from_group,
                                     self.remove_from_group_button.isEnabled()),
                                    ("&Delete…", page.delete_selected, person is not None)):
            menu.addAction(text, slot).setEnabled(enabled)
        menu.popup(page.table.viewport().mapToGlobal(pos))
        return menu

    # ------------------------------------------------------------------ dialogs

    def _show(self, key: str, make: Any) -> Any:
        """The open dialog of this kind brought forward, or a new one (the old one released)."""
        old = self.dialogs.get(key)
        if old is not None and old.isVisible():
            old.raise_()
            old.activateWindow()
            return old
        if old is not None and not getattr(old, "busy", False):
            old.deleteLater()
        dialog = make()
        self.dialogs[key] = dialog
        dialog.show()
        return dialog

    def open_groups_dialog(self) -> GroupsDialog:
        return self._show("groups", lambda: GroupsDialog(self.ctx, self.page.selected_people, self.page))

    def open_history(self) -> HistoryDialog | None:
        person = self.page.selected_person()
        if person is None:
            return None
        old = self.dialogs.get("history")
        if isinstance(old, HistoryDialog) and old.person.id != person.id:
            old.close()
        return self._show("history", lambda: HistoryDialog(self.ctx, person, self.page))

    def open_import_dialog(self, path: str | None = None) -> ImportRosterDialog:
        dialog = self._show("import", lambda: ImportRosterDialog(self.ctx, self.page))
        if path:
            dialog.load(str(path))
        return dialog

    def open_folder_dialog(self, folder: str | None = None, group: str | None = None) -> EnrolFolderDialog:
        dialog = self._show("folder", lambda: EnrolFolderDialog(self.ctx, self.page))
        if group is not None:
            dialog.set_group(group)
        if folder:
            dialog.load(str(folder))
        return dialog

    # ------------------------------------------------------------------ membership from the table

    def add_selected_to_group(self) -> ChooseGroupDialog | None:
        people = self.page.selected_people()
        if not people:
            return None
        names = [g.name for g in self.ctx.service.groups.all()]
        return self._choose("Add to group", f"Add {_who(people)} to which group?", names, True,
                            lambda name: self.add_to_group(name, [p.id for p in people]))

    def remove_selected_from_group(self) -> ChooseGroupDialog | None:
        people = self.page.selected_people()
        names = sorted({g for p in people for g in p.groups}, key=str.casefold)
        if not names:
            return None
        return self._choose("Remove from group", f"Remove {_who(people)} from which group?", names, False,
                            lambda name: self.remove_from_group(name, [p.id for p in people]))

    def _choose(self, title: str, prompt: str, names: list[str], allow_new: bool,
                on_chosen: Any) -> ChooseGroupDialog:
        old = self.dialogs.pop("choose", None)
        if old is not None:  # asked for other people: the old question is void
            old.close()
            old.deleteLater()
        dialog = ChooseGroupDialog(title, prompt, names, allow_new, self.page)
        dialog.chosen.connect(on_chosen)
        self.dialogs["choose"] = dialog
        dialog.open()
        return dialog

    def add_to_group(self, name: str, person_ids: list[int]) -> int | None:
        """Add people to a group (created when it does not exist yet)."""
        service = self.ctx.service
        try:
            group = service.groups.find(name) or service.create_group(name)
            added = service.add_to_group(group.id, person_ids)
        except RollcallError as exc:
            self._failed("Adding to a group", exc)
            return None
        self.page.say(f"Added {added} of {len(person_ids)} to {group.name}.")
        return added

    def remove_from_group(self, name: str, person_ids: list[int]) -> int | None:
        service = self.ctx.service
        try:
            group = service.groups.named(name)
            removed = service.remove_from_group(group.id, person_ids)
        except RollcallError as exc:
            self._failed("Removing from a group", exc)
            return None
        self.page.say(f"Removed {removed} of {len(person_ids)} from {group.name}.")
        return removed

    def _failed(self, title: str, exc: RollcallError) -> None:
        self.ctx.notifier.exception(title, exc)
        self.page.say(str(exc), error=True)

    def shutdown(self) -> None:
        """Cancel bulk work still running (the tasks end at the next photo)."""
        for dialog in self.dialogs.values():
            if getattr(dialog, "busy", False):
                dialog.cancel()


def _who(people: list) -> str:
    return people[0].name if len(people) == 1 else f"the {len(people)} selected people"
