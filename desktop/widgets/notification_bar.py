"""A one-line bar above the tabs that shows warnings and errors until the operator dismisses them.

Its height is fixed whatever arrives (and it asks for no minimum height): the newest notice is shown on one line (elided; the whole text is
its tooltip), the older ones wait behind a "+k more" button that lists them. "Dismiss" dismisses the
notice shown (the next newest takes its place), "Dismiss all" clears the bar. Long texts and many
notices therefore never make the main window taller or wider."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton

from desktop.notifier import Notice

STYLES = {
    "error": "background: #fdecea; color: #5f2120; border-bottom: 1px solid #f5c2c0;",
    "warning": "background: #fff4e5; color: #663c00; border-bottom: 1px solid #ffd8a8;",
}
MAX_LISTED = 20  # older notices listed under "+k more"; the rest are counted


def notice_text(notice: Notice) -> str:
    return f"{notice.title}: {notice.text}" if notice.text else notice.title


class NotificationBar(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.notices: list[Notice] = []  # newest first
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 3, 6, 3)
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(False)
        # elided to the room there is: its text never sets the window's width
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(40)
        self.more_button = QToolButton()
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more_button.setToolTip("The earlier notices, newest first")
        self.more_menu = QMenu(self.more_button)
        self.more_button.setMenu(self.more_menu)
        self.dismiss_button = QToolButton()
        self.dismiss_button.setText("Dismiss")
        self.dismiss_button.setToolTip("Hide this notice; the next one (if any) takes its place")
        self.dismiss_button.clicked.connect(self.dismiss_current)
        self.dismiss_all_button = QToolButton()
        self.dismiss_all_button.setText("Dismiss all")
        self.dismiss_all_button.setToolTip("Hide every notice (they stay in the log)")
        self.dismiss_all_button.clicked.connect(self.dismiss)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.more_button)
        layout.addWidget(self.dismiss_button)
        layout.addWidget(self.dismiss_all_button)
        self.bar_height = max(self.dismiss_button.sizeHint().height(), self.label.sizeHint().height()) + 6
        self.setMaximumHeight(self.bar_height)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(super().sizeHint().width(), self.bar_height)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        """No minimum height: showing the bar never raises the window's minimum size (in a window at
        its very smallest, the bar is squeezed; its notices stay in the log and the notifier's history)."""
        return QSize(super().minimumSizeHint().width(), 0)

    def show_notice(self, notice: Notice) -> None:
        self.notices.insert(0, notice)
        self._refresh()

    @property
    def text(self) -> str:
        """The notice shown, in full ('' when the bar is hidden)."""
        return notice_text(self.notices[0]) if self.notices and not self.isHidden() else ""

    @property
    def hidden_count(self) -> int:
        return max(len(self.notices) - 1, 0)

    def dismiss_current(self) -> None:
        if self.notices:
            self.notices.pop(0)
        self._refresh()

    def dismiss(self) -> None:
        self.notices.clear()
        self._refresh()

    def show_earlier(self, index: int) -> None:
        """Bring the notice at `index` (0: newest) to the front."""
        if 0 <= index < len(self.notices):
            self.notices.insert(0, self.notices.pop(index))
            self._refresh()

    def _refresh(self) -> None:
        if not self.notices:
            self.hide()
            return
        newest = self.notices[0]
        self.setStyleSheet(f"NotificationBar {{ {STYLES.get(newest.level, STYLES['warning'])} }}")
        self.label.setToolTip(notice_text(newest))
        self._elide()
        self.more_button.setText(f"+{self.hidden_count} more")
        self.more_button.setVisible(self.hidden_count > 0)
        self.dismiss_all_button.setVisible(self.hidden_count > 0)
        self.more_menu.clear()
        for index, notice in enumerate(self.notices[1:MAX_LISTED + 1], start=1):
            action = self.more_menu.addAction(_short(notice_text(notice)))
            action.setToolTip(notice_text(notice))
            action.triggered.connect(lambda _checked=False, i=index: self.show_earlier(i))
        if len(self.notices) > MAX_LISTED + 1:
            self.more_menu.addAction(f"and {len(self.notices) - MAX_LISTED - 1} earlier").setEnabled(False)
        self.show()

    def _elide(self) -> None:
        if self.notices:
            full = notice_text(self.notices[0]).replace("\n", " ")
            width = max(self.label.width(), 40)
            self.label.setText(self.label.fontMetrics().elidedText(full, Qt.TextElideMode.ElideRight, width))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()


def _short(text: str, limit: int = 120) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 1] + "…"
