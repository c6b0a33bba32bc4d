"""A bar above the tabs that shows warnings and errors until the operator dismisses them.
Several notices stack up as a count; the newest is shown."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from desktop.notifier import Notice

STYLES = {
    "error": "background: #fdecea; color: #5f2120; border-bottom: 1px solid #f5c2c0;",
    "warning": "background: #fff4e5; color: #663c00; border-bottom: 1px solid #ffd8a8;",
}


class NotificationBar(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.notices: list[Notice] = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(self.label.textFormat().PlainText)
        self.count = QLabel()
        close = QToolButton()
        close.setText("Dismiss")
        close.clicked.connect(self.dismiss)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.count)
        layout.addWidget(close)
        self.hide()

    def show_notice(self, notice: Notice) -> None:
        self.notices.append(notice)
        self.setStyleSheet(f"NotificationBar {{ {STYLES.get(notice.level, STYLES['warning'])} }}")
        self.label.setText(f"{notice.title}: {notice.text}")
        self.count.setText(f"+{len(self.notices) - 1} more" if len(self.notices) > 1 else "")
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.notices.clear()
        self.hide()
