"""Every stored text goes through one rule at the core boundary: names through clean_name, free text
(notes, operators, reasons) through clean_text; control characters never reach the database or an export."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.gallery.records import MAX_TEXT_CHARS, GalleryError, clean_text
from core.service import Rollcall
from tests.core.gallery_fixtures import tiny_embedder
from tests.core.test_register import enrolled, write_list

HOSTILE_LINE = "Ms\x1b[31m K\x00\tthe\x7fsecond\u0085"
HOSTILE_NOTES = "front row\r\nallergic\x1b[2J to nuts\x00\r\r\n\n\n\nsee\u2028office\t"


def no_control(text: str, newline_ok: bool = False) -> bool:
    return not any((ord(c) < 32 and not (newline_ok and c == "\n")) or 0x7f <= ord(c) <= 0x9f for c in text)


def test_clean_text_one_line_and_multi_line() -> None:
    assert clean_text(HOSTILE_LINE) == "Ms [31m K the second"
    assert clean_text(HOSTILE_NOTES, multiline=True) == "front row\nallergic [2J to nuts\n\nsee office"
    assert clean_text(None) == "" and clean_text("  \x1b \x00 ") == ""
    with pytest.raises(GalleryError, match=f"at most {MAX_TEXT_CHARS}"):
        clean_text("x" * (MAX_TEXT_CHARS + 1), "the notes")


def test_notes_are_cleaned_when_a_person_is_added_or_edited(service: Rollcall) -> None:
    pid = enrolled(service, "Ada", notes=HOSTILE_NOTES)
    assert service.gallery.person(pid).notes == "front row\nallergic [2J to nuts\n\nsee office"
    updated = service.update_person(pid, notes="new\x1b\r\nline")
    assert updated.notes == "new\nline"


def test_operators_and_reasons_of_manual_changes_are_cleaned(service: Rollcall) -> None:
    ada, bo = enrolled(service, "Ada", groups=("7B",)), enrolled(service, "Bo", groups=("7B",))
    session = service.start_session("Maths\x1b", "7B")
    assert session.name == "Maths"
    mark = service.manual_mark(session.id, ada, operator=HOSTILE_LINE, reason="late\r\nbus\x00")
    assert (mark.operator, mark.reason) == ("Ms [31m K the second", "late bus")
    service.excuse(session.id, bo, operator="K\x1b", reason="dentist\x07")
    service.unexcuse(session.id, bo, operator="K", reason="came\nafter all")
    service.unmark(session.id, ada, operator="K\u0085", reason="wrong\tperson")
    for entry in service.attendance.audit_log(session.id):
        assert no_control(entry["operator"]) and no_control(entry["reason"]), entry
    assert [e["reason"] for e in service.attendance.audit_log(session.id)] == [
        "late bus", "dentist", "came after all", "wrong person"]


@pytest.mark.parametrize("change", ["manual_mark", "unmark", "excuse", "unexcuse"])
def test_an_operator_or_reason_of_only_control_characters_is_refused(service: Rollcall, change: str) -> None:
    ada = enrolled(service, "Ada", groups=("7B",))
    session = service.start_session("Maths", "7B")
    with pytest.raises(GalleryError, match="operator's name and a reason"):
        getattr(service, change)(session.id, ada, operator="\x1b\x00", reason="because")
    with pytest.raises(GalleryError, match="operator's name and a reason"):
        getattr(service, change)(session.id, ada, operator="K", reason="\r\n\t")


def test_deleting_a_person_audits_a_clean_operator(service: Rollcall) -> None:
    pid = enrolled(service, "Ada")
    service.delete_person(pid, operator="K\x1b[0m\n")
    assert service.attendance.audit_log()[-1]["operator"] == "K [0m"


def test_a_model_name_from_a_file_name_is_cleaned(service: Rollcall) -> None:
    record = service.gallery.register_model(tiny_embedder(3, name="edge\nface\x1b"))
    assert record.name == "edge face -3"  # each control character becomes a space


def test_a_class_lists_notes_are_cleaned_and_a_second_import_changes_nothing(service: Rollcall, tmp_path: Path) -> None:
    roster = write_list(tmp_path / "class.csv", [["Name", "External ID", "Notes"],
                                                 ["Ada\x1b", "S1", HOSTILE_NOTES.replace("\x00", "\x07")]])
    preview = service.preview_roster(roster)  # (a NUL would make it "binary data", refused as a whole)
    assert preview.rows[0].notes == "front row\nallergic [2J to nuts\n\nsee office"
    service.import_roster(preview)
    assert service.gallery.people()[0].notes == preview.rows[0].notes
    assert [r.action for r in service.preview_roster(roster).rows] == ["unchanged"]


def test_stored_hostile_text_exports_cleanly(service: Rollcall, tmp_path: Path) -> None:
    ada = enrolled(service, "Ada", groups=("7B",), notes=HOSTILE_NOTES)
    session = service.start_session("Maths", "7B")
    service.manual_mark(session.id, ada, operator=HOSTILE_LINE, reason="=1+1\x1b")
    _, path = service.export_register(tmp_path / "r.xlsx", session_id=session.id)
    texts = [c for row in load_workbook(path).active.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert "Ms [31m K the second" in texts and "=1+1" in texts
    assert all(no_control(t) and "\ufffd" not in t for t in texts)
