"""The kiosk view: a full-screen window for the people arriving, with the live video, a big "Welcome,
NAME" for a few seconds when someone is newly marked, and "present N of M". It has no admin controls.
Esc (or F11) leaves; when the settings hold a kiosk PIN or an admin PIN is set, leaving asks for one
of them first (`pin_ok`, core.storage.admin_pin).

It paints what the Live tab hands it (`show_frame`) and what the Live tab's register panel read
(`RegisterPanel.changed` / `arrived`): it never reads frames or the database itself."""

from __future__ import annotations

import hmac

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFont, QImage, QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from core.register.status import Register, RegisterLine
from desktop.context import AppContext
from desktop.register.register_panel import RegisterPanel
from desktop.widgets.video_view import VideoView

WELCOME_MS = 4000  # how long a welcome stays up
BACKGROUND = "background: #111111; color: #f2f2f2;"


def pin_ok(entered: str, pin: str) -> bool:
    """Whether `entered` opens a kiosk guarded by `pin` (an empty PIN guards nothing)."""
    return not pin or hmac.compare_digest(entered.strip().encode(), pin.encode())


def welcome_text(names: list[str]) -> str:
    """ "Welcome, Ada", "Welcome, Ada and Bo", "Welcome, Ada, Bo and Cy"."""
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
    return f"Welcome, {listed}"


def kiosk_count(register: Register | None) -> str:
    if register is None:
        return "No session: nobody is being marked"
    if not register.has_list:
        return f"{len(register.lines)} present"
    return f"present {register.arrived} of {register.expected}"


def big_font(widget: QWidget, points: float) -> QFont:
    font = QFont(widget.font())
    font.setPointSizeF(points)
    font.setBold(True)
    return font


class KioskWindow(QWidget):
    left = Signal()  # the kiosk was closed (Esc, PIN, or the app shutting down)

    def __init__(self, ctx: AppContext, panel: RegisterPanel) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.ctx = ctx
        self._leaving = False
        self.setWindowTitle("Rollcall: kiosk")
        self.setStyleSheet(BACKGROUND)
        self.view = VideoView()
        self.view.placeholder = "Waiting for the camera…"
        self.session_label = QLabel()
        self.session_label.setFont(big_font(self, 20))
        self.count_label = QLabel()
        self.count_label.setFont(big_font(self, 28))
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.welcome_label = QLabel()
        self.welcome_label.setFont(big_font(self, 44))
        self.welcome_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome_label.setWordWrap(True)  # several names at once, or a long one, wrap rather than cut
        self.welcome_label.setStyleSheet("color: #7ee08a;")
        self.welcome_label.setMinimumHeight(90)
        self._welcome_timer = QTimer(self)
        self._welcome_timer.setSingleShot(True)
        self._welcome_timer.timeout.connect(self.welcome_label.clear)

        # -- asked only when a PIN is set and someone presses Esc
        self.pin_box = QWidget()
        self.pin_edit = QLineEdit()
        self.pin_edit.setToolTip("The kiosk PIN, then Enter, to leave the kiosk view")
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setMaximumWidth(200)
        self.pin_edit.returnPressed.connect(lambda: self.try_leave(self.pin_edit.text()))
        self.pin_message = QLabel()
        pin_prompt = QLabel("Operator &PIN to leave (Esc: stay):")
        pin_prompt.setBuddy(self.pin_edit)
        pin_row = QHBoxLayout(self.pin_box)
        pin_row.addStretch(1)
        pin_row.addWidget(pin_prompt)
        pin_row.addWidget(self.pin_edit)
        pin_row.addWidget(self.pin_message)
        pin_row.addStretch(1)
        self.pin_box.hide()

        top = QHBoxLayout()
        top.addWidget(self.session_label, 1)
        top.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.welcome_label)
        layout.addWidget(self.pin_box)

        panel.changed.connect(self.show_register)
        panel.arrived.connect(self.welcome)
        self.show_register(panel.register)

    # ------------------------------------------------------------------ what it shows

    def show_frame(self, image: QImage, faces: list) -> None:
        self.view.show_frame(image, faces)

    def show_register(self, register: Register | None) -> None:
        self.session_label.setText(register.session.name if register is not None else "")
        self.count_label.setText(kiosk_count(register))

    def welcome(self, lines: list[RegisterLine]) -> None:
        """Greet who was just marked, for WELCOME_MS."""
        text = welcome_text([line.name for line in lines])
        if text:
            self.welcome_label.setText(text)
            self._welcome_timer.start(WELCOME_MS)

    # ------------------------------------------------------------------ opening and leaving

    def open_full_screen(self) -> None:
        self._leaving = False
        self.showFullScreen()
        self.raise_()
        self.activateWindow()
        self.setFocus()

    def request_leave(self) -> bool:
        """Esc or F11: leave at once without a PIN; with one, ask for it (pressed again: stop asking)."""
        if not self._guarded():
            self.leave()
            return True
        if self.pin_box.isVisible():
            self._hide_pin()
        else:
            self._ask_pin()
        return False

    def _ask_pin(self) -> None:
        if not self.pin_box.isVisible():
            self.pin_message.clear()
            self.pin_edit.clear()
            self.pin_box.show()
        self.pin_edit.setFocus()

    def try_leave(self, entered: str) -> bool:
        if self._pin_opens(entered):
            self.leave()
            return True
        self.pin_edit.clear()
        self.pin_message.setText("Wrong PIN")
        return False

    def _guarded(self) -> bool:
        """A kiosk PIN or an admin PIN is set."""
        return bool(self.ctx.config.kiosk_pin) or self.ctx.service.has_admin_pin

    def _pin_opens(self, entered: str) -> bool:
        """The kiosk PIN or the admin PIN (either one leaves)."""
        kiosk, admin = self.ctx.config.kiosk_pin, self.ctx.service.has_admin_pin
        return ((bool(kiosk) and pin_ok(entered, kiosk)) or (admin and self.ctx.service.admin_pin_ok(entered))
                or not (kiosk or admin))

    def leave(self) -> None:
        self._leaving = True
        self._hide_pin()
        self.close()

    def _hide_pin(self) -> None:
        self.pin_edit.clear()
        self.pin_message.clear()
        self.pin_box.hide()
        self.setFocus()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_F11):
            self.request_leave()
            event.accept()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if not self._leaving and self._guarded():  # Alt+F4 asks for the PIN too
            event.ignore()
            self._ask_pin()
            return
        self._welcome_timer.stop()
        self.welcome_label.clear()
        super().closeEvent(event)
        self.left.emit()
