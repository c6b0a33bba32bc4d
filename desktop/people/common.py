"""Small pieces the People dialogs share: a non-blocking Yes/No question, table cells, and the size
every dialog keeps to (it must fit a 1366x768 screen)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMessageBox, QTableWidget, QTableWidgetItem, QWidget

SCREEN = (1366, 768)  # the smallest screen every window must fit (less the taskbar and title bar)
FIT = (SCREEN[0] - 40, SCREEN[1] - 100)
PROBLEM_BACKGROUND = QColor("#f9dedc")  # a row that is skipped
WARNING_BACKGROUND = QColor("#fff0c8")  # a row imported with a warning


def ask_non_modal(parent: QWidget, title: str, question: str, on_yes: Callable[[], None]) -> None:
    """A Yes/No question that does not block: `on_yes` runs if the operator answers Yes."""
    box = QMessageBox(QMessageBox.Icon.Question, title, question,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.finished.connect(lambda result: on_yes() if result == QMessageBox.StandardButton.Yes else None)
    box.finished.connect(box.deleteLater)
    box.open()


def fit_size(widget: QWidget, width: int, height: int) -> None:
    """Resize to (width, height), never past what a 1366x768 screen shows."""
    widget.resize(min(width, FIT[0]), min(height, FIT[1]))


def read_only_table(columns: tuple[str, ...], stretch: int | None = None) -> QTableWidget:
    """A table of text cells that selects whole rows and is never edited in place."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setTabKeyNavigation(False)  # Tab leaves the table (keyboard use of the dialog)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


def set_row(table: QTableWidget, row: int, values: list[object], *, background: QColor | None = None,
            tooltip: str = "") -> None:
    """Fill one row of a `read_only_table` (numbers right-aligned)."""
    for col, value in enumerate(values):
        item = QTableWidgetItem("" if value is None else str(value))
        if isinstance(value, int):
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if background is not None:
            item.setBackground(background)
        if tooltip:
            item.setToolTip(tooltip)
        table.setItem(row, col, item)


def cell_texts(table: QTableWidget) -> list[list[str]]:
    """Every row's text (for tests and logs)."""
    return [[table.item(r, c).text() if table.item(r, c) else "" for c in range(table.columnCount())]
            for r in range(table.rowCount())]
