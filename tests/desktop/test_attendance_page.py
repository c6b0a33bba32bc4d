"""The Attendance tab: sessions, filters, manual marks and removals with a reason, evidence and
export, all through core."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import cv2
import numpy as np
import pytest
from openpyxl import load_workbook

from desktop.pages.attendance_page import AttendancePage
from tests.desktop.conftest import errors
from tests.desktop.test_marks_table import add_people


@pytest.fixture
def page(ctx, qtbot) -> AttendancePage:
    page = AttendancePage(ctx)
    qtbot.addWidget(page)
    page.show()
    return page


@pytest.fixture
def people(ctx) -> tuple[int, int]:
    lin, alex = add_people(ctx, "Lin-Manuel Miranda", "Alex Lacamoire")
    return lin, alex


def warnings(ctx) -> list[str]:
    return [f"{n.title}: {n.text}" for n in ctx.notifier.history if n.level == "warning"]


def shown_people(page: AttendancePage) -> list[str]:
    return [m.person_name for m in page.marks_model.marks]


def evidence_jpeg() -> bytes:
    face = np.full((120, 100, 3), 200, np.uint8)
    cv2.circle(face, (50, 60), 30, (40, 90, 160), -1)
    return cv2.imencode(".jpg", face)[1].tobytes()


def test_start_and_stop_sessions(ctx, page, qtbot) -> None:
    assert page.start_session("   ") is None  # core refuses a nameless session
    assert errors(ctx) and "name" in errors(ctx)[-1]
    ctx.service.create_group("2B")
    session = page.start_session("Maths", "2B")
    assert session is not None and page.sessions_model.rowCount() == 1
    assert page.selected_session().id == session.id and page.filter_session_id() == session.id
    assert page.stop_button.isEnabled()
    stopped = page.stop_selected()
    assert stopped is not None and not stopped.open
    assert not ctx.attendance.session(session.id).open
    assert not page.stop_button.isEnabled()


def test_manual_mark_needs_a_reason_and_is_signed(ctx, page, people) -> None:
    lin, alex = people
    session = page.start_session("Rehearsal")
    assert page.manual_mark(alex, "   ") is None
    assert ctx.attendance.marks(session.id) == []
    assert any("needs a reason" in w for w in warnings(ctx))

    mark = page.manual_mark(alex, "arrived through the side door")
    assert mark is not None and mark.manual
    stored = ctx.attendance.marks(session.id)
    assert [(m.person_id, m.operator, m.reason) for m in stored] == [(alex, "tester", "arrived through the side door")]
    assert shown_people(page) == ["Alex Lacamoire"]
    assert page.count_label.text() == "1 mark shown"
    audit = ctx.attendance.audit_log(session.id)
    assert [(a["action"], a["operator"], a["person_id"]) for a in audit] == [("mark", "tester", alex)]

    assert page.manual_mark(alex, "again") is None  # already marked: core's message reaches the notifier
    assert "already marked" in errors(ctx)[-1]


def test_manual_mark_dialog_does_not_block_and_marks_on_accept(ctx, page, people) -> None:
    lin, alex = people
    session = page.start_session("Rehearsal")
    ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.95)
    ctx.attendance_changed.emit()
    dialog = page.ask_manual_mark()
    assert dialog is not None and dialog.isVisible()
    assert [dialog.person_combo.itemText(i) for i in range(dialog.person_combo.count())] == ["Alex Lacamoire"]
    assert not dialog.ok_button.isEnabled()  # no reason yet
    dialog.reason_edit.setText("badge forgotten")
    assert dialog.ok_button.isEnabled()
    dialog.accept()
    assert {m.person_id: m.manual for m in ctx.attendance.marks(session.id)} == {lin: False, alex: True}


def test_unmark_with_reason(ctx, page, people) -> None:
    lin, alex = people
    session = page.start_session("Rehearsal")
    ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.95)
    ctx.attendance.mark(session.id, alex, "Alex Lacamoire", score=0.9)
    ctx.attendance_changed.emit()
    assert page.select_mark(page.marks_model.marks[0].id)
    mark = page.selected_mark()
    assert mark.person_id == lin and page.unmark_button.isEnabled()

    assert not page.unmark(mark, "")
    assert len(ctx.attendance.marks(session.id)) == 2

    dialog = page.ask_unmark()
    assert dialog is not None and dialog.isVisible()
    dialog.reason_edit.setText("look-alike in the audience")
    dialog.accept()
    assert [m.person_id for m in ctx.attendance.marks(session.id)] == [alex]
    assert shown_people(page) == ["Alex Lacamoire"]
    last = ctx.attendance.audit_log(session.id)[-1]
    assert (last["action"], last["person_id"], last["reason"], last["operator"]) == \
        ("unmark", lin, "look-alike in the audience", "tester")


def test_filters_narrow_the_table(ctx, page, people) -> None:
    lin, alex = people
    morning = ctx.attendance.start_session("Morning")
    evening = ctx.attendance.start_session("Evening")
    ctx.attendance.mark(morning.id, lin, "Lin-Manuel Miranda", score=0.95)
    ctx.attendance.manual_mark(morning.id, alex, "Alex Lacamoire", operator="tester", reason="late")
    ctx.attendance.mark(evening.id, alex, "Alex Lacamoire", score=0.9)
    ctx.attendance_changed.emit()
    page.set_filters()
    assert len(shown_people(page)) == 3
    page.set_filters(session_id=morning.id)
    assert shown_people(page) == ["Lin-Manuel Miranda", "Alex Lacamoire"]
    page.set_filters(person_id=alex)
    assert [m.session_id for m in page.marks_model.marks] == [morning.id, evening.id]
    page.set_filters(manual=True)
    assert [(m.person_id, m.session_id) for m in page.marks_model.marks] == [(alex, morning.id)]
    page.set_filters(manual=False, person_id=alex)
    assert [m.session_id for m in page.marks_model.marks] == [evening.id]
    today = dt.date.today()
    page.set_filters(start=today, end=today)  # dates inclusive
    assert len(shown_people(page)) == 3
    page.set_filters(start=today + dt.timedelta(days=1))
    assert shown_people(page) == []
    page.set_filters(end=today - dt.timedelta(days=1))
    assert shown_people(page) == []
    # selecting a session in the list filters on it
    page.set_filters()
    page.select_session(evening.id)
    assert page.filter_session_id() == evening.id and shown_people(page) == ["Alex Lacamoire"]


def finish(qtbot, task):
    """Wait for a background task and for its results to reach the GUI thread."""
    qtbot.waitUntil(lambda: task.settled, timeout=10_000)
    return task


def test_export_csv_and_xlsx_write_the_register(ctx, page, people, qtbot, tmp_path: Path) -> None:
    lin, alex = people
    band = ctx.service.create_group("Band")
    ctx.service.add_to_group(band.id, [lin, alex])
    morning = ctx.service.start_session("Morning", "Band")
    evening = ctx.service.start_session("Evening")
    ctx.attendance.mark(morning.id, lin, "Lin-Manuel Miranda", score=0.95, confidence=83, source="camera 0")
    ctx.attendance.mark(evening.id, alex, "Alex Lacamoire", score=0.9, confidence=61)
    ctx.attendance_changed.emit()
    page.set_filters(session_id=morning.id)

    csv_path = tmp_path / "morning.csv"
    finish(qtbot, page.export_to(csv_path))
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["session"], r["person"], r["groups"], r["status"], r["manual"]) for r in rows) == [
        ("Morning", "Alex Lacamoire", "Band", "absent", ""), ("Morning", "Lin-Manuel Miranda", "Band", "present", "no")]
    assert {r["person"]: r["score"] for r in rows} == {"Lin-Manuel Miranda": "83", "Alex Lacamoire": ""}
    assert "0.95" not in [v for r in rows for v in r.values()]  # the score is the 0-100 confidence, not the cosine

    today = dt.date.today()
    page.set_filters(start=today, end=today)  # no session chosen: every session of the range
    xlsx_path = tmp_path / "today.xlsx"
    finish(qtbot, page.export_to(xlsx_path))
    values = list(load_workbook(xlsx_path).active.iter_rows(values_only=True))
    assert values[0][:5] == ("session", "external_id", "person", "groups", "status")  # a session without a list: who came is present
    assert sorted((r[0], r[2], r[4]) for r in values[1:]) == [
        ("Evening", "Alex Lacamoire", "present"), ("Morning", "Alex Lacamoire", "absent"),
        ("Morning", "Lin-Manuel Miranda", "present")]
    infos = [n.text for n in ctx.notifier.history if n.title == "Export"]
    assert any("3 rows written" in t and "today.xlsx" in t for t in infos)


def test_export_failure_reaches_the_notifier(ctx, page, people, qtbot, tmp_path: Path) -> None:
    assert page.export_to(tmp_path / "nothing.csv") is None  # neither a session nor a date range chosen
    session = ctx.service.start_session("Morning")
    ctx.attendance_changed.emit()
    page.set_filters(session_id=session.id)
    assert finish(qtbot, page.export_to(tmp_path / "marks.pdf")).error is not None
    assert finish(qtbot, page.export_to(tmp_path / "no such folder" / "marks.csv")).error is not None
    qtbot.waitUntil(lambda: len(errors(ctx)) == 3, timeout=5000)
    assert len([e for e in errors(ctx) if e.startswith("Export")]) == 3
    assert "session or a date range" in errors(ctx)[0]
    assert "pdf" in errors(ctx)[1] and "no such folder" in errors(ctx)[2]
    assert not (tmp_path / "marks.pdf").exists() and not (tmp_path / "nothing.csv").exists()


def test_evidence_is_shown_for_the_selected_mark(ctx, page, people) -> None:
    lin, alex = people
    session = page.start_session("Rehearsal")
    auto = ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.93, confidence=72,
                               evidence_jpeg=evidence_jpeg())
    manual = page.manual_mark(alex, "camera off")
    assert page.evidence_label.pixmap().isNull()
    page.select_mark(auto.id)
    pixmap = page.evidence_label.pixmap()
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) == 160
    caption = page.evidence_caption.text()
    assert "Lin-Manuel Miranda" in caption and "confidence 72" in caption and "0.93" not in caption
    page.select_mark(manual.id)
    assert page.evidence_label.pixmap().isNull()
    assert "no photo" in page.evidence_caption.text()


def test_page_follows_marks_arriving_from_elsewhere(ctx, page, people) -> None:
    lin, _ = people
    session = page.start_session("Live")
    assert shown_people(page) == []
    ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.9)  # as the live page does
    ctx.attendance_changed.emit()
    assert shown_people(page) == ["Lin-Manuel Miranda"]
    assert page.sessions_model.index(0, 4).data() == 1
