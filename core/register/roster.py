"""Class lists: reading a CSV or XLSX of people, previewing what importing it would change, and applying it.

Columns (case-insensitive): `name` (required), `external_id`, `group` (several `;`-separated), `photos`
(a photo or a folder; relative to the list's folder) and `notes`. Re-importing updates people by
External ID (else by a name only one enrolled person has), so importing the same list twice changes
nothing. Groups are only ever added by an import, never taken away. Reading is bounded in size and rows.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.gallery.bulk import EnrolJob, photos_in
from core.gallery.groups import split_groups
from core.gallery.records import GalleryError, clean_name, clean_text
from core.gallery.store import Gallery, Person

MAX_LIST_BYTES = 20 * 1024 * 1024
MAX_XLSX_UNPACKED = 200 * 1024 * 1024  # a zip bomb stops here
MAX_ROWS = 20_000
COLUMNS = {"name": "name", "external_id": "external_id", "external id": "external_id", "group": "group",
           "groups": "group", "photos": "photos", "photo": "photos", "notes": "notes"}


class RosterError(GalleryError):
    """A class list cannot be read."""


@dataclass
class RosterRow:
    line: int  # the row number as a spreadsheet shows it (the header is 1)
    name: str
    external_id: str | None
    groups: list[str]
    notes: str | None
    photos: list[Path] = field(default_factory=list)
    action: str = "new"  # new, update, unchanged, skip
    person_id: int | None = None
    problems: list[str] = field(default_factory=list)  # why the row is skipped
    warnings: list[str] = field(default_factory=list)  # imported anyway


@dataclass
class RosterPreview:
    path: Path
    rows: list[RosterRow]

    def count(self, action: str) -> int:
        return sum(r.action == action for r in self.rows)

    @property
    def photos(self) -> int:
        return sum(len(r.photos) for r in self.rows if r.action != "skip")

    def summary(self) -> str:
        warned = sum(bool(r.warnings) for r in self.rows if r.action != "skip")
        return (f"{len(self.rows)} rows: {self.count('new')} new, {self.count('update')} to update, "
                f"{self.count('unchanged')} unchanged, {self.count('skip')} skipped with problems, "
                f"{warned} with warnings; {self.photos} photos to check")


def read_table(path: str | Path) -> list[list[str]]:
    """The cells of a CSV or XLSX file (the first sheet), as text."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RosterError(f"cannot read the class list {path}: {exc.strerror or exc}") from None
    if size > MAX_LIST_BYTES:
        raise RosterError(f"the class list {path} is {size / 2**20:.0f} MB; a class list is at most "
                          f"{MAX_LIST_BYTES // 2**20} MB (split it)")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    raise RosterError(f"{path.name} is not a class list Rollcall reads: save it as .csv or .xlsx")


def _read_csv(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):  # Excel on Windows saves "CSV" in the ANSI code page
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 leaves only 5 bytes undefined
        raise RosterError(f"{path} is not text in UTF-8 or Windows-1252; save it again as CSV UTF-8")
    if "\x00" in text:
        raise RosterError(f"{path} holds binary data, not a CSV class list")
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)  # Excel writes ';' where ',' is the decimal point
    out = []
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            out.append(row)
            if len(out) > MAX_ROWS + 1:
                raise RosterError(f"{path} has more than {MAX_ROWS} rows; split the class list")
    except csv.Error as exc:
        raise RosterError(f"{path} is not a readable CSV file (row {len(out) + 1}: {exc})") from None
    return out


def _read_xlsx(path: Path) -> list[list[str]]:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:  # ValueError: bad names
        raise RosterError(f"{path} is not a readable XLSX file ({exc})") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise RosterError(f"{path} unpacks to {unpacked / 2**20:.0f} MB; that is no class list")
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            out = []
            for row in wb.worksheets[0].iter_rows(values_only=True):
                out.append(["" if v is None else str(v) for v in row[:64]])
                if len(out) > MAX_ROWS + 1:
                    raise RosterError(f"{path} has more than {MAX_ROWS} rows; split the class list")
            return out
        finally:
            wb.close()
    except RosterError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise RosterError(f"{path} is not a readable XLSX file ({type(exc).__name__}: {exc})") from None


def preview_roster(gallery: Gallery, path: str | Path) -> RosterPreview:
    """What importing the list would do, row by row; nothing is written."""
    path = Path(path).resolve()
    table = read_table(path)
    while table and not any(c.strip() for c in table[0]):
        table.pop(0)
    if not table:
        raise RosterError(f"{path} is empty: a class list needs a header row with at least a 'name' column")
    header = [COLUMNS.get(" ".join(c.strip().lower().replace("_", " ").split()).replace(" id", "_id"), "")
              for c in table[0]]
    if "name" not in header:
        raise RosterError(f"{path} has no 'name' column (its header row is: {', '.join(table[0][:8])}); "
                          f"the columns are name, external_id, group, photos, notes")
    index = {col: header.index(col) for col in set(header) if col}
    people = {p.id: p for p in gallery.people()}
    by_external = {p.external_id: p for p in people.values() if p.external_id}
    by_name: dict[str, list[Person]] = {}
    for p in people.values():
        by_name.setdefault(p.name.casefold(), []).append(p)
    seen_ids: dict[str, int] = {}
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        value = {col: cells[i] if i < len(cells) else "" for col, i in index.items()}
        rows.append(_row(number, value, path.parent, by_external, by_name, seen_ids))
    return RosterPreview(path, rows)


def _row(number: int, value: dict[str, str], folder: Path, by_external: dict[str, Person],
         by_name: dict[str, list[Person]], seen_ids: dict[str, int]) -> RosterRow:
    row = RosterRow(number, "", None, [], None)
    try:
        notes = value.get("notes")
        row.notes = None if notes is None else clean_text(notes, "the notes", multiline=True)
        row.name = clean_name(value.get("name"))
        row.external_id = clean_name(value.get("external_id"), "an External ID", required=False) or None
        row.groups = split_groups(value.get("group"))
    except GalleryError as exc:
        row.problems.append(str(exc))
    if row.external_id:
        if row.external_id in seen_ids:
            row.problems.append(f"External ID {row.external_id} is also on row {seen_ids[row.external_id]}")
        seen_ids.setdefault(row.external_id, number)
    photos = value.get("photos", "").strip()
    if photos:
        target = Path(photos) if Path(photos).is_absolute() else folder / photos
        try:
            row.photos = photos_in(target)
        except GalleryError as exc:
            row.warnings.append(str(exc))
        else:
            if not row.photos:
                row.warnings.append(f"no photos at {target}" if not target.exists() else f"no photos in {target}")
    if row.problems:
        row.action = "skip"
        return row
    known = by_external.get(row.external_id) if row.external_id else None
    if known is None:
        same = [p for p in by_name.get(row.name.casefold(), []) if not p.external_id or not row.external_id]
        if len(same) == 1:
            known = same[0]
        elif same:  # adding another would make it worse on every import
            row.problems.append(f"{len(same)} people are already called {row.name}: give this row their "
                                f"External ID (or a new one)")
            row.action = "skip"
            return row
    if known is None:
        others = by_name.get(row.name.casefold(), [])
        if others and len(others) == 1 and others[0].external_id:
            row.warnings.append(f"someone else called {row.name} is enrolled (External ID {others[0].external_id})")
        return row
    row.person_id = known.id
    changed = (known.name != row.name or (row.external_id is not None and row.external_id != known.external_id)
               or not {g.casefold() for g in row.groups} <= {g.casefold() for g in known.groups}
               or (row.notes is not None and row.notes != known.notes))
    row.action = "update" if changed else "unchanged"
    if known.name != row.name:
        row.warnings.append(f"renames {known.name} to {row.name}")
    return row


def apply_roster(gallery: Gallery, preview: RosterPreview) -> list[EnrolJob]:
    """Write the preview's people and groups in one transaction; the photos still to check, per person."""
    jobs = []
    with gallery.db.transaction() as conn:
        for row in preview.rows:
            if row.action == "skip":
                continue
            if row.person_id is None:
                row.person_id = gallery.insert_person(conn, row.name, row.external_id, row.groups, row.notes or "")
            elif row.action == "update":
                fields: dict[str, object] = {"name": row.name, "groups": row.groups}
                if row.external_id is not None:
                    fields["external_id"] = row.external_id
                if row.notes is not None:
                    fields["notes"] = row.notes
                gallery.write_person(conn, row.person_id, fields, replace_groups=False)
            if row.photos:
                jobs.append(EnrolJob(row.name, row.photos, person_id=row.person_id))
    return jobs
