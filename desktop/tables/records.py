"""The shared plumbing of Rollcall's tables: a read-only Qt table over a list of core records (frozen
dataclasses with an `id`), replaced wholesale when core is re-read. Subclasses name the columns and
say what each cell shows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class RecordTableModel(QAbstractTableModel):
    columns: tuple[str, ...] = ()
    right_aligned: frozenset[int] = frozenset()  # numeric columns

    def __init__(self) -> None:
        super().__init__()
        self.records: list[Any] = []

    def set_records(self, records: list[Any]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.endResetModel()

    def record_at(self, row: int) -> Any | None:
        return self.records[row] if 0 <= row < len(self.records) else None

    def row_of(self, record_id: int) -> int:
        """The row showing the record with this id, or -1 (filtered out, or gone)."""
        return next((row for row, r in enumerate(self.records) if r.id == record_id), -1)

    # -- what subclasses fill in

    def display(self, record: Any, column: int) -> object:
        raise NotImplementedError

    def role_data(self, record: Any, column: int, role: int) -> object:
        """Anything beyond text and alignment (decorations, tooltips, colours)."""
        return None

    # -- Qt's model interface

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        record = self.record_at(index.row()) if index.isValid() else None
        if record is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(record, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in self.right_aligned:
            return RIGHT
        return self.role_data(record, index.column(), role)
