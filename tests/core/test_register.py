"""The register: groups and who a session expects, present/late/absent/excused/guest, Excel-safe
exports of hostile names, class-list previews and imports, group reports and a person's history."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook, load_workbook

from core.gallery.bulk import plan_folder, run_jobs
from core.gallery.records import GalleryError
from core.register.roster import MAX_LIST_BYTES, RosterError
from core.register.sheets import FORMULA_PREFIXES, ExportError, Sheet, write_sheet
from core.register.status import ABSENT, EXCUSED, GUEST, LATE, PRESENT
from core.service import Rollcall
from core.storage.db import Database
from core.storage.schema import MIGRATIONS
from tests.core.gallery_fixtures import synthetic_sample, tiny_embedder, unit


def enrolled(service: Rollcall, name: str, **fields) -> int:
    """A person with two synthetic samples (setup: enrolment is tested elsewhere)."""
    gallery = service.gallery
    model = gallery.active_model() or gallery.activate_model(tiny_embedder())
    vectors = unit(np.random.default_rng(abs(hash(name)) % 2**32).normal(size=(2, model.dim)))
    return gallery.add_person(name, [synthetic_sample(i) for i in range(2)], vectors, model, **fields).id


def statuses(service: Rollcall, session_id: int) -> dict[str, str]:
    return {line.name: line.status for line in service.register(session_id).lines}


def test_a_group_session_expects_its_members_and_follows_joining_and_leaving(service: Rollcall) -> None:
    ada, bo, cy = (enrolled(service, n) for n in ("Ada", "Bo", "Cy"))
    cast = service.create_group("Cast")
    service.add_to_group(cast.id, [ada, bo])
    assert service.groups.get(cast.id).n_members == 2
    session = service.start_session("Rehearsal", "Cast")
    assert statuses(service, session.id) == {"Ada": ABSENT, "Bo": ABSENT}
    service.add_to_group(cast.id, [cy])  # joins while the session is open: expected from now on
    service.remove_from_group(cast.id, [bo])  # leaves before being marked: no longer expected
    assert statuses(service, session.id) == {"Ada": ABSENT, "Cy": ABSENT}
    service.attendance.mark(session.id, ada, "Ada", score=0.9, confidence=80)
    service.remove_from_group(cast.id, [ada])  # leaving after the mark keeps the line
    service.update_person(cy, name="Cyrus")  # a rename reaches the open register
    assert statuses(service, session.id) == {"Ada": PRESENT, "Cyrus": ABSENT}
    service.stop_session(session.id)
    service.add_to_group(cast.id, [bo])  # an ended session's register no longer changes
    assert statuses(service, session.id) == {"Ada": PRESENT, "Cyrus": ABSENT}
    reg = service.register(session.id)
    assert (reg.expected, reg.arrived) == (2, 1) and reg.summary() == "present 1 / 2, 1 absent"


def test_group_rules(service: Rollcall) -> None:
    ada = enrolled(service, "Ada", groups=("Band", "band ", "Cast"))
    assert service.gallery.person(ada).groups == ("Band", "Cast")  # one group per name, whatever the case
    with pytest.raises(GalleryError, match="already"):
        service.create_group("CAST")
    band = service.groups.named("band")
    service.rename_group(band.id, "Orchestra")
    assert service.gallery.person(ada).groups == ("Cast", "Orchestra")
    session = service.start_session("Concert", band.id)
    with pytest.raises(GalleryError, match="open"):
        service.delete_group(band.id)
    service.stop_session(session.id)
    service.delete_group(band.id)
    assert service.gallery.person(ada).groups == ("Cast",)
    assert service.attendance.session(session.id).name == "Concert"  # the session and its register stay
    assert statuses(service, session.id) == {"Ada": ABSENT}
    with pytest.raises(GalleryError, match="no group called"):
        service.start_session("Nope", "Nobody's group")


def test_present_late_absent_excused_and_guests(service: Rollcall) -> None:
    ada, bo, cy, di, eve = (enrolled(service, n, groups=("Cast",) if n != "Eve" else ()) for n in
                            ("Ada", "Bo", "Cy", "Di", "Eve"))
    start = dt.datetime.now().astimezone() - dt.timedelta(minutes=30)
    session = service.start_session("Rehearsal", "Cast", scheduled_start=start.isoformat(), late_after_min=10)
    db = service.db
    service.attendance.mark(session.id, ada, "Ada", score=0.9, confidence=80)  # now: 30 min after the start
    service.manual_mark(session.id, bo, operator="ms k", reason="signed in at the desk")
    early = (start + dt.timedelta(minutes=5)).isoformat(timespec="seconds")
    with db.transaction() as conn:  # Bo came 5 minutes after the start
        conn.execute("UPDATE marks SET marked_at = ? WHERE person_id = ?", (early, bo))
    with pytest.raises(GalleryError, match="reason"):
        service.excuse(session.id, cy, operator="ms k", reason=" ")
    service.excuse(session.id, cy, operator="ms k", reason="doctor's note")
    service.attendance.mark(session.id, eve, "Eve", score=0.9, confidence=70)  # not in the group
    reg = service.register(session.id)
    assert {line.name: line.status for line in reg.lines} == {"Ada": LATE, "Bo": PRESENT, "Cy": EXCUSED,
                                                              "Di": ABSENT, "Eve": GUEST}
    assert reg.summary() == "present 2 / 4 (1 late), 1 not yet marked, 1 excused, 1 guest"
    cy_line = next(line for line in reg.lines if line.name == "Cy")
    assert (cy_line.operator, cy_line.reason) == ("ms k", "doctor's note")
    service.unexcuse(session.id, cy, operator="ms k", reason="the note was for another day")
    assert statuses(service, session.id)["Cy"] == ABSENT
    actions = [a["action"] for a in service.attendance.audit_log(session.id)]
    assert actions.count("excuse") == 1 and actions.count("unexcuse") == 1
    with pytest.raises(GalleryError, match="not expected"):
        service.excuse(session.id, eve, operator="ms k", reason="guest")


def test_a_session_without_a_group_has_no_list(service: Rollcall) -> None:
    ada = enrolled(service, "Ada", groups=("Cast",))
    session = service.start_session("Drop-in")
    service.attendance.mark(session.id, ada, "Ada", score=0.9, confidence=80)
    reg = service.register(session.id)
    assert not reg.has_list and [(line.name, line.status) for line in reg.lines] == [("Ada", PRESENT)]
    assert reg.summary() == "1 marked (no group: nobody is expected)"


HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
           "\tTabbed", "Esc\x1b[31mRed", "Nul\x00Byte", " =spaced"]


def test_hostile_names_export_as_text_to_csv_and_xlsx(service: Rollcall, tmp_path: Path) -> None:
    ids = [enrolled(service, name, groups=("=cmd()",), external_id=f"+{i}") for i, name in enumerate(HOSTILE)]
    session = service.start_session("=Session()", "=cmd()")
    for pid in ids[:4]:
        service.manual_mark(session.id, pid, operator="@operator", reason="=1+1")
    service.excuse(session.id, ids[5], operator="-op", reason="+reason")
    rows_written, csv_path = service.export_register(tmp_path / "r.csv", session_id=session.id)
    _, xlsx_path = service.export_register(tmp_path / "r.xlsx", session_id=session.id)
    assert rows_written == len(HOSTILE)

    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    cells = [c for row in table for c in row]
    assert not [c for c in cells if c.lstrip(" ").startswith(FORMULA_PREFIXES)]  # each is quoted with '
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells and "'@operator" in cells
    assert not any("\x00" in c or "\x1b" in c for c in cells)

    sheet = load_workbook(xlsx_path).active
    xl_cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert xl_cells and all(c.data_type != "f" for c in xl_cells)
    texts = [c.value for c in xl_cells if isinstance(c.value, str)]
    assert "=HYPERLINK(\"http://evil.example\",\"x\")" in texts  # kept as text, shown as typed
    assert not any("\x00" in t or "\x1b" in t for t in texts)


def test_control_characters_written_straight_to_a_sheet_do_not_break_it(tmp_path: Path) -> None:
    sheet = Sheet("a\x1b:b", ("name", "when"), [("Esc\x1b", dt.datetime(2026, 12, 7, 9, 5)), ("Nul\x00", None)])
    load_workbook(write_sheet(sheet, tmp_path / "x.xlsx"))
    with pytest.raises(ExportError, match="xlsx"):
        write_sheet(sheet, tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists() and not list(tmp_path.glob("*.part"))
    values = list(load_workbook(tmp_path / "x.xlsx").active.iter_rows(values_only=True))
    assert values[1] == ("Esc\ufffd", dt.datetime(2026, 12, 7, 9, 5))  # a real date cell


def write_list(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_a_class_list_previews_then_imports_once(service: Rollcall, tmp_path: Path) -> None:
    (tmp_path / "photos" / "bo").mkdir(parents=True)
    ada = enrolled(service, "Ada", external_id="S1")
    roster = write_list(tmp_path / "class.csv", [
        ["Name", "External ID", "Groups", "Photos", "Notes"],
        ["Ada Lovelace", "S1", "2B", "", ""],  # known by External ID: renamed, joins 2B
        ["Bo", "S2", "2B; Choir", "photos/bo", "front row"],  # an empty photo folder: imported, warned
        ["Cy", "S2", "2B", "", ""],  # the same External ID twice: skipped
        ["", "S4", "2B", "", ""],  # no name: skipped
        ["", "", "", "", ""],
    ])
    preview = service.preview_roster(roster)
    assert [(r.line, r.action) for r in preview.rows] == [(2, "update"), (3, "new"), (4, "skip"), (5, "skip")]
    assert "renames Ada to Ada Lovelace" in preview.rows[0].warnings
    assert "no photos in" in preview.rows[1].warnings[0]
    assert "row 3" in preview.rows[2].problems[0] and preview.rows[3].problems
    assert service.gallery.person(ada).name == "Ada"  # a preview writes nothing
    assert service.import_roster(preview) == []  # no photos to enrol
    people = {p.name: p for p in service.gallery.people()}
    assert set(people) == {"Ada Lovelace", "Bo"}
    assert people["Bo"].groups == ("2B", "Choir") and people["Bo"].notes == "front row"
    assert people["Bo"].n_samples == 0  # listed without a face: expected, absent until marked by hand
    session = service.start_session("Maths", "2B")
    assert statuses(service, session.id) == {"Ada Lovelace": ABSENT, "Bo": ABSENT}

    again = service.preview_roster(roster)
    assert [r.action for r in again.rows] == ["unchanged", "unchanged", "skip", "skip"]
    service.import_roster(again)
    assert len(service.gallery.people()) == 2


def test_hostile_class_lists_get_a_clear_error(service: Rollcall, tmp_path: Path) -> None:
    junk = tmp_path / "list.xlsx"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(RosterError, match="list.xlsx.*not a readable XLSX"):
        service.preview_roster(junk)
    binary = tmp_path / "list.csv"
    binary.write_bytes(b"name\nA\x00B\n")
    with pytest.raises(RosterError, match="binary"):
        service.preview_roster(binary)
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as fh:
        fh.truncate(MAX_LIST_BYTES + 1)
    with pytest.raises(RosterError, match="huge.csv.*MB"):
        service.preview_roster(huge)
    nameless = write_list(tmp_path / "nameless.csv", [["Student", "Class"], ["Ada", "2B"]])
    with pytest.raises(RosterError, match="no 'name' column"):
        service.preview_roster(nameless)
    wb = Workbook()
    wb.active.append(["Name", "Groups"])
    wb.active.append(["=1+1", "2B"])  # a live formula (no value cached): no name
    wb.active.append(["", "2B"])
    wb.active["A3"].value, wb.active["A3"].data_type = "=2+2", "s"  # text that looks like a formula
    wb.save(tmp_path / "formula.xlsx")
    formula, text = service.preview_roster(tmp_path / "formula.xlsx").rows
    assert formula.action == "skip" and "name" in formula.problems[0]
    assert text.name == "=2+2" and text.action == "new"  # a name, kept as text (exports quote it)
    with pytest.raises(RosterError, match="pdf"):
        service.preview_roster(tmp_path / "list.pdf")
    assert service.gallery.people() == []


def test_a_folder_plan_matches_sub_folders_by_external_id_then_name(service: Rollcall, tmp_path: Path) -> None:
    enrolled(service, "Ada", external_id="S1")
    enrolled(service, "Bo")
    enrolled(service, "Bo")  # two people called Bo: the folder cannot say which
    for folder in ("S1", "Bo", "Cy", "empty"):
        (tmp_path / "in" / folder).mkdir(parents=True)
    for folder in ("S1", "Bo", "Cy"):
        (tmp_path / "in" / folder / "a.jpg").write_bytes(b"not checked while planning")
    (tmp_path / "in" / "loose.jpg").write_bytes(b"x")
    jobs = {job.name: job for job in plan_folder(service.gallery, tmp_path / "in")}
    assert set(jobs) == {"Ada", "Bo", "Cy", "empty"}  # loose photos in the top folder are nobody's
    assert jobs["Ada"].person_id is not None and len(jobs["Ada"].photos) == 1 and not jobs["Ada"].problem
    assert jobs["Cy"].person_id is None and not jobs["Cy"].problem
    assert "2 people are called Bo" in jobs["Bo"].problem and "no photos" in jobs["empty"].problem
    class NoReading:  # the skipped jobs must not read a photo
        gallery = service.gallery

        def check_file(self, path):
            raise AssertionError(f"read {path}")

    report = run_jobs(NoReading(), [jobs["Bo"], jobs["empty"]])
    assert [o.state for o in report.outcomes] == ["skipped", "skipped"] and report.photos_checked == 0
    assert len(service.gallery.people()) == 3


def test_group_report_and_history(service: Rollcall, tmp_path: Path) -> None:
    ada, bo = enrolled(service, "Ada", groups=("2B",)), enrolled(service, "Bo", groups=("2B",))
    first = service.start_session("Mon", "2B")
    service.attendance.mark(first.id, ada, "Ada", score=0.9, confidence=80)
    service.excuse(first.id, bo, operator="ms k", reason="ill")
    service.stop_session(first.id)
    second = service.start_session("Tue", "2B")
    service.manual_mark(second.id, bo, operator="ms k", reason="desk")
    service.stop_session(second.id)
    report = service.group_report("2B", path=tmp_path / "2b.xlsx")
    assert [s.name for s in report.sessions] == ["Mon", "Tue"]
    assert {p[1]: (p[2], p[3], p[4]) for p in report.people} == {"Ada": (["P", "A"], 1, 2), "Bo": (["E", "P"], 1, 1)}
    values = list(load_workbook(tmp_path / "2b.xlsx").active.iter_rows(values_only=True))
    assert values[0][-3:] == ("attended", "of", "percent") and values[1][-1] == 50.0 and values[2][-1] == 100.0
    assert [(h.session.name, h.status) for h in service.person_history(bo)] == [("Tue", PRESENT), ("Mon", EXCUSED)]


def test_a_v2_database_moves_its_free_text_groups_into_groups(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    MIGRATIONS[0](conn)
    MIGRATIONS[1](conn)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO people(id, name, group_name, created_at, updated_at) VALUES"
                 " (1, 'Ada', '2B; Choir', 'then', 'then'), (2, 'Bo', '2b', 'then', 'then'), (3, 'Cy', '', 'then', 'then')")
    conn.execute("INSERT INTO sessions(id, name, group_name, started_at) VALUES (1, 'Maths', '2B', '2024-01-01T09:00:00')")
    conn.execute("COMMIT")
    conn.close()
    with Rollcall.open(path) as service:
        assert [(g.name, g.n_members) for g in service.groups.all()] == [("2B", 2), ("Choir", 1)]
        assert [p.groups for p in service.gallery.people()] == [("2B", "Choir"), ("2B",), ()]
        assert service.attendance.session(1).group_name == "2B"
    with Database(path) as db:
        assert "group_name" not in [r[1] for r in db.execute("PRAGMA table_info(people)")]
