"""The dialog that asks for a group report: which group, from and to which day, and the file to write
(XLSX or CSV by its suffix). OK stays disabled until a group and a file are chosen; open() it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QComboBox, QDateEdit, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPushButton, QWidget,
)

from core.gallery.groups import Group
from desktop.dialogs import save_file
from desktop.widgets.helpers import path_row

REPORT_FILTER = "Excel workbook (*.xlsx);;CSV file (*.csv)"
DEFAULT_DAYS = 30


class GroupReportDialog(QDialog):
    def __init__(self, parent: QWidget | None, groups: list[Group], group_id: int | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Group report")
        form = QFormLayout(self)
        form.addRow(QLabel("Everyone in the group × its sessions: P present, L late, A absent, E excused,\n"
                           "with each person's attendance percentage."))
        self.group_combo = QComboBox()
        self.group_combo.setToolTip("The group whose attendance is reported")
        for group in groups:
            self.group_combo.addItem(group.name, group.id)
        self.group_combo.setCurrentIndex(max(0, self.group_combo.findData(group_id)))
        today = QDate.currentDate()
        self.from_date = QDateEdit(today.addDays(-DEFAULT_DAYS))
        self.to_date = QDateEdit(today)
        self.from_date.setToolTip("Sessions from this day on")
        self.to_date.setToolTip("Sessions up to this day")
        for edit in (self.from_date, self.to_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.path_edit = QLineEdit()
        self.path_edit.setToolTip("The file to save: .xlsx for Excel, .csv for other programs")
        self.path_edit.setPlaceholderText("report.xlsx")
        for label, widget in (("&Group", self.group_combo), ("&From", self.from_date), ("&To", self.to_date)):
            text = QLabel(label)
            text.setBuddy(widget)
            form.addRow(text, widget)
        file_label = QLabel("F&ile")
        file_label.setBuddy(self.path_edit)
        row = path_row(self.path_edit, "&Browse…", self._browse, "Choose where to save the report")
        self.browse_button = row.findChild(QPushButton)
        form.addRow(file_label, row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Write report")
        self.ok_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.path_edit.textChanged.connect(self._update_ok)
        self._update_ok()
        self.setMinimumWidth(460)

    def _update_ok(self) -> None:
        self.ok_button.setEnabled(self.group_id is not None and bool(self.path))

    def _browse(self) -> None:
        name = f"{self.group_combo.currentText() or 'group'} report.xlsx".replace("/", "-")
        path, chosen = save_file(self, "Write the group report", self.path_edit.text() or name, REPORT_FILTER)
        if path:
            if not Path(path).suffix:
                path += ".csv" if "csv" in chosen.lower() else ".xlsx"
            self.path_edit.setText(path)

    @property
    def group_id(self) -> int | None:
        return self.group_combo.currentData()

    @property
    def start(self) -> str:
        return self.from_date.date().toString("yyyy-MM-dd")

    @property
    def end(self) -> str:
        """The last day included."""
        return self.to_date.date().toString("yyyy-MM-dd")

    @property
    def path(self) -> str:
        return self.path_edit.text().strip()
