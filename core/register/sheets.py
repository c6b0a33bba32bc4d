"""Writing tables to CSV or XLSX that are safe to open in Excel.

No cell ever becomes a formula: text starting with `=`, `+`, `-`, `@`, tab or CR (after any spaces)
is neutralised as OWASP's CSV-injection guidance says: in CSV it gets a leading apostrophe; in XLSX
it is stored as a text cell with Excel's quote prefix. Control characters (ESC, NUL...) are replaced
by U+FFFD, so no name can break an export. Times are real datetimes in XLSX. Files are written to a
temporary name first: a failed export never leaves half a file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import RollcallError
from core.protected_files import ensure_not_database_file

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell


class ExportError(RollcallError):
    """An export cannot be written."""


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple]  # str, int, float, None, or naive datetime values
    widths: tuple[int, ...] = ()


def clean_cell(value: object) -> object:
    """Control characters replaced, over-long text cut (numbers and datetimes unchanged)."""
    if not isinstance(value, str):
        return value
    return _CONTROL.sub("\ufffd", value)[:MAX_CELL_CHARS]


def formula_like(value: object) -> bool:
    return isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_PREFIXES)


def csv_cell(value: object) -> object:
    value = clean_cell(value)
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")  # what Excel reads as a date and time
    return "'" + value if formula_like(value) else value  # type: ignore[operator]


def local_time(iso: str | None) -> tuple[_dt.datetime | None, str]:
    """An ISO time with its UTC offset as (the wall-clock datetime there, "UTC+01:00"): Excel has no time
    zones, so the zone goes in a column of its own."""
    if not iso:
        return None, ""
    moment = _dt.datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    offset = moment.utcoffset() or _dt.timedelta(0)
    sign = "-" if offset < _dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return moment.replace(tzinfo=None), f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def write_sheet(sheet: Sheet, path: str | Path, fmt: str | None = None) -> Path:
    """Write one table to CSV or XLSX (by `fmt` or the file's suffix)."""
    path = Path(path)
    ensure_not_database_file(path, "an export")  # writing over it would destroy the register
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "xlsx"):
        raise ExportError(f"cannot export to '{fmt or path.name}': use a .csv or .xlsx file")
    tmp = path.with_name(path.name + ".part")
    try:
        if fmt == "csv":
            _write_csv(sheet, tmp)
        else:
            _write_xlsx(sheet, tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _write_csv(sheet: Sheet, target: Path) -> None:
    with target.open("w", newline="", encoding="utf-8-sig") as fh:  # BOM: Excel reads UTF-8 names right
        writer = csv.writer(fh)
        writer.writerow([csv_cell(c) for c in sheet.columns])
        writer.writerows([csv_cell(v) for v in row] for row in sheet.rows)


def _write_xlsx(sheet: Sheet, target: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = clean_cell(sheet.title)[:31].translate(str.maketrans("[]:*?/\\", "(),,,,,")) or "Sheet"  # type: ignore[index]
    _append(ws, sheet.columns)
    for row in sheet.rows:
        _append(ws, row)
    ws.freeze_panes = "A2"
    for i, width in enumerate(sheet.widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    wb.save(target)


def _append(ws, values: Sequence[object]) -> None:  # noqa: ANN001
    ws.append([clean_cell(v) for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, _dt.datetime):
            cell.number_format = DATETIME_FORMAT
        elif cell.data_type == "f" or formula_like(cell.value):  # openpyxl stores "=..." as a formula
            cell.data_type = "s"
            cell.quotePrefix = True
