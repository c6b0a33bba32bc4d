"""Small pieces the tabs share: message styles, a path field with its picker button, selecting a table
row, blocking widgets' signals while they are filled, and letting a tab reach the widgets and actions
of the sections it is built from (`page.threshold_spin` stays `page.threshold_spin`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QItemSelectionModel, QObject
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QLineEdit, QPushButton, QWidget

ERROR_STYLE = "color: #b3261e;"
WARNING_STYLE = "color: #8a5300;"


def path_row(edit: QLineEdit, button_text: str, slot: Callable[[], object], tip: str = "") -> QWidget:
    """A line edit for a path with the button that opens its picker (`tip`: the button's tooltip), as one
    widget (a form row that can be hidden or disabled as a whole)."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton(button_text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    layout.addWidget(button)
    return row


def select_row(view: QAbstractItemView, row: int) -> None:
    """Select a whole row of a single-selection table view (its selection-changed handlers run)."""
    view.selectionModel().select(
        view.model().index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)


@contextmanager
def signals_blocked(*objects: QObject) -> Iterator[None]:
    """Fill widgets from the settings without their change handlers running."""
    for obj in objects:
        obj.blockSignals(True)
    try:
        yield
    finally:
        for obj in objects:
            obj.blockSignals(False)


def expose(owner: object, part: object, *names: str) -> None:
    """Make the named attributes of a section (widgets, bound methods: objects that are never replaced)
    attributes of the page holding it, so `page.name` is `part.name`."""
    for name in names:
        setattr(owner, name, getattr(part, name))
