"""The first page of the enrolment wizard: who is enrolled (name, required; external id, unique; group;
notes), and what is wrong with it before the wizard moves on."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QWidget

from core.gallery.groups import split_groups
from core.gallery.store import Gallery
from desktop.widgets.helpers import ERROR_STYLE


class DetailsPage(QWidget):
    def __init__(self) -> None:
        super().__init__()
        form = QFormLayout(self)
        intro = QLabel("<h3>Who is being enrolled?</h3>")
        form.addRow(intro)
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("The person's name as it should appear in registers")
        self.name_edit.setPlaceholderText("required")
        self.external_id_edit = QLineEdit()
        self.external_id_edit.setToolTip("A student or staff number, to match class lists and exports")
        self.external_id_edit.setPlaceholderText("optional: staff or student number (unique)")
        self.group_edit = QLineEdit()
        self.group_edit.setToolTip("The group the person joins (created if new)")
        self.group_edit.setPlaceholderText("optional: class, team, department")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setMaximumHeight(90)
        form.addRow("Name *", self.name_edit)
        form.addRow("External ID", self.external_id_edit)
        form.addRow("Group", self.group_edit)
        form.addRow("Notes", self.notes_edit)
        self.details_error = QLabel()
        self.details_error.setStyleSheet(ERROR_STYLE)
        self.details_error.setWordWrap(True)
        form.addRow(self.details_error)

    def details(self) -> dict[str, str | None]:
        return {
            "name": self.name_edit.text().strip(),
            "external_id": self.external_id_edit.text().strip() or None,
            "groups": split_groups(self.group_edit.text()),
            "notes": self.notes_edit.toPlainText().strip(),
        }

    def problem(self, gallery: Gallery) -> str:
        """What stops these details from being saved ('' when nothing does)."""
        details = self.details()
        if not details["name"]:
            return "Enter the person's name."
        external_id = details["external_id"]
        if external_id:
            taken = [p for p in gallery.find_people(external_id) if p.external_id == external_id]
            if taken:
                return f"The external ID '{external_id}' already belongs to {taken[0].name}."
        return ""
