"""The optional admin PIN in the app: a small modal dialog asks for it before a guarded action (settings,
deleting people, changing models, leaving the kiosk) when one is set (the service keeps it hashed,
core.storage.admin_pin), and the dialog that sets, changes or clears it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from core.errors import RollcallError
from desktop.context import AppContext

TITLE = "Admin PIN"


def pin_edit() -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setValidator(QRegularExpressionValidator(r"\d{0,12}", edit))
    edit.setMaximumWidth(220)
    return edit


class PinDialog(QDialog):
    """Asks for the admin PIN; accepted only once `check(entered)` is true (a wrong one says so and stays)."""

    def __init__(self, parent: QWidget | None, action: str, check: Callable[[str], bool]) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.setModal(True)
        self._check = check
        self.edit = pin_edit()
        self.message = QLabel()
        self.message.setStyleSheet("color: #b00020;")
        prompt = QLabel(f"{action} needs the admin &PIN:")
        prompt.setWordWrap(True)
        prompt.setBuddy(self.edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(prompt)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.edit.setFocus()

    def try_accept(self) -> bool:
        if self._check(self.edit.text()):
            self.accept()
            return True
        self.edit.clear()
        self.message.setText("Wrong PIN")
        self.edit.setFocus()
        return False


def admin_allows(parent: QWidget | None, ctx: AppContext, action: str) -> bool:
    """True when no admin PIN is set, or once the right one was typed (False: cancelled)."""
    try:
        if not ctx.service.has_admin_pin:
            return True
    except RollcallError as exc:
        ctx.notifier.exception(TITLE, exc)
        return False
    dialog = PinDialog(parent, action, ctx.service.admin_pin_ok)
    try:
        allowed = dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()
    if not allowed:
        ctx.notifier.warning(TITLE, f"{action}: not done without the admin PIN.")
    return allowed


class SetPinDialog(QDialog):
    """Set, change or clear the admin PIN (the current one first, when one is set)."""

    def __init__(self, parent: QWidget | None, ctx: AppContext) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(TITLE)
        self.current_edit, self.new_edit, self.repeat_edit = pin_edit(), pin_edit(), pin_edit()
        form = QFormLayout()
        self.has_pin = ctx.service.has_admin_pin
        if self.has_pin:
            form.addRow("&Current PIN", self.current_edit)
        form.addRow("&New PIN", self.new_edit)
        form.addRow("&Repeat it", self.repeat_edit)
        note = QLabel("4 to 12 digits. Leave both new fields empty to clear the PIN." if self.has_pin
                      else "4 to 12 digits, asked before settings change, people are deleted, models change "
                           "and the kiosk view is left.")
        note.setWordWrap(True)
        self.message = QLabel()
        self.message.setStyleSheet("color: #b00020;")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setDefault(True)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.setMaximumSize(600, 400)

    def save(self) -> bool:
        new, repeat = self.new_edit.text().strip(), self.repeat_edit.text().strip()
        if new != repeat:
            self.message.setText("The two new PINs differ; type the same one twice.")
            return False
        if not new and not self.has_pin:
            self.message.setText("Type the new PIN (twice).")
            return False
        try:
            self.ctx.service.set_admin_pin(new or None, current=self.current_edit.text())
        except RollcallError as exc:
            self.message.setText(str(exc))
            self.current_edit.clear()
            return False
        self.ctx.notifier.info(TITLE, "Admin PIN set" if new else "Admin PIN cleared")
        self.accept()
        return True

