"""The Help menu's dialogs: the keyboard shortcuts (read from the window's actions, so the list is
always the one in force) and About Rollcall (version, licence, and where the data folder, database,
settings file and log are)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from core import __version__
from desktop.app import log_path

LICENCE = ("Rollcall is proprietary software. It bundles the MIT-licensed MTCNN face-detector weights "
           "of the mtcnn package.")


def _ok_buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    buttons.button(QDialogButtonBox.StandardButton.Close).setDefault(True)
    return buttons


class ShortcutsDialog(QDialog):
    """`shortcuts`: (what it does, key sequence) pairs, in the order shown."""

    def __init__(self, shortcuts: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(shortcuts), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (what, keys) in enumerate(shortcuts):
            self.table.setItem(row, 0, QTableWidgetItem(what))
            self.table.setItem(row, 1, QTableWidgetItem(keys))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Menus also open with Alt and the underlined letter (Alt+F: File)."))
        layout.addWidget(self.table, 1)
        layout.addWidget(_ok_buttons(self))
        self.resize(520, min(600, 120 + 30 * len(shortcuts)))

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())]


def action_shortcuts(actions) -> list[tuple[str, str]]:
    """(text without mnemonics, or the action's "shortcut_label" property; shortcut as the platform
    writes it) of each action that has one."""
    rows = []
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
        if keys:
            label = action.property("shortcut_label") or action.text()
            rows.append((label.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…"), ", ".join(keys)))
    return rows


class AboutDialog(QDialog):
    def __init__(self, data_folder: Path, db_path: Path, settings_file: Path | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Rollcall")
        self.paths = {"Data folder": Path(data_folder), "Database": Path(db_path),
                      "Settings file": Path(settings_file) if settings_file else None, "Log": log_path()}
        title = QLabel(f"<b>Rollcall {__version__}</b><br>Face-recognition attendance.")
        licence = QLabel(LICENCE)
        licence.setWordWrap(True)
        form = QFormLayout()
        for name, path in self.paths.items():
            label = QLabel(str(path) if path is not None else "not saved (this run only)")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            label.setToolTip("Select the text to copy the path")
            form.addRow(name, label)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(licence)
        layout.addLayout(form)
        layout.addWidget(_ok_buttons(self))
        self.setMinimumWidth(480)

    def text(self) -> str:
        """Everything the dialog says, as plain text (for tests and for copying)."""
        return "\n".join(label.text() for label in self.findChildren(QLabel))
