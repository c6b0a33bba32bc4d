"""The People page's confirmation for deleting a person (with the choice to erase their attendance
history too); editing a person is desktop.people.edit_person. Open it with `open()`; the answer
arrives by signal, so nothing blocks the window or a test."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from core.gallery.store import Person


class DeletePersonDialog(QDialog):
    confirmed = Signal(int, bool)  # person id, erase their attendance history too

    def __init__(self, person: Person, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.person_id = person.id
        self.setWindowTitle("Delete person")
        text = QLabel(f"Delete <b>{person.name}</b> and their {person.n_samples} face sample(s)? "
                      f"They will no longer be recognised. This cannot be undone.")
        text.setWordWrap(True)
        self.erase_history = QCheckBox("Also erase their attendance history")
        self.erase_history.setToolTip("Unticked, past attendance marks keep their name.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.delete_button = buttons.addButton("Delete", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.delete_button.clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.erase_history)
        layout.addWidget(buttons)
        self.accepted.connect(lambda: self.confirmed.emit(self.person_id, self.erase_history.isChecked()))
