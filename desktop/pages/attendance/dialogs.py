"""The dialog of the Attendance tab that asks why a mark is added or removed (and, for a manual mark,
whom to mark). OK stays disabled until a reason is typed."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget


class ReasonDialog(QDialog):
    """Asks for a reason (and, for a manual mark, the person); never blocks: open() it."""

    def __init__(self, parent: QWidget, title: str, text: str, people: list[tuple[str, int]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout(self)
        form.addRow(QLabel(text))
        self.person_combo: QComboBox | None = None
        if people is not None:
            self.person_combo = QComboBox()
            self.person_combo.setToolTip("The person to mark")
            for name, person_id in people:
                self.person_combo.addItem(name, person_id)
            form.addRow("Person", self.person_combo)
        self.reason_edit = QLineEdit()
        self.reason_edit.setToolTip("Why, in a few words; kept with the mark")
        self.reason_edit.setPlaceholderText("required, e.g. 'arrived late, camera missed her'")
        form.addRow("Reason", self.reason_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setEnabled(False)
        self.reason_edit.textChanged.connect(lambda text: self.ok_button.setEnabled(bool(text.strip())))
        form.addRow(buttons)

    @property
    def reason(self) -> str:
        return self.reason_edit.text().strip()

    @property
    def person_id(self) -> int | None:
        return self.person_combo.currentData() if self.person_combo is not None else None
