"""The register on the Attendance tab: the selected session's register table, excusing and withdrawing an
excuse with a reason, the summary when a session is stopped there, and the group report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PySide6.QtWidgets import QLabel

from core.register.status import ABSENT, EXCUSED, GUEST, PRESENT
from desktop.pages.attendance_page import AttendancePage
from desktop.tables.register_table import COLUMNS, GROUPS_COL, MANUAL_COL, PERSON_COL, REASON_COL, STATUS_COL
from tests.desktop.conftest import errors
from tests.desktop.test_marks_table import add_people


@pytest.fixture
def page(ctx, qtbot) -> AttendancePage:
    page = AttendancePage(ctx)
    qtbot.addWidget(page)
    page.show()
    return page


@pytest.fixture
def band(ctx) -> dict[str, int]:
    ids = dict(zip(("Ada", "Bo", "Eve"), add_people(ctx, "Ada", "Bo", "Eve")))
    group = ctx.service.create_group("Band")
    ctx.service.add_to_group(group.id, [ids["Ada"], ids["Bo"]])
    ids["group"] = group.id
    return ids


def column(page: AttendancePage, col: int) -> list[str]:
    model = page.register_model
    return [model.index(row, col).data() for row in range(model.rowCount())]


def warnings(ctx) -> list[str]:
    return [f"{n.title}: {n.text}" for n in ctx.notifier.history if n.level == "warning"]


def test_register_table_shows_the_selected_session(ctx, page, band) -> None:
    assert page.right_tabs.currentWidget() is page.register_pane and page.register_model.rowCount() == 0
    session = page.start_session("Rehearsal", "Band")
    assert page.register_model.columnCount() == len(COLUMNS)
    assert column(page, PERSON_COL) == ["Ada", "Bo"] and column(page, STATUS_COL) == ["not yet", "not yet"]
    ctx.service.manual_mark(session.id, band["Ada"], operator="tester", reason="badge")
    ctx.attendance.mark(session.id, band["Eve"], "Eve", score=0.9, confidence=70)  # as the live page does
    ctx.attendance_changed.emit()
    assert column(page, PERSON_COL) == ["Ada", "Bo", "Eve"]
    assert column(page, STATUS_COL) == [PRESENT, "not yet", GUEST]
    assert column(page, GROUPS_COL) == ["Band", "Band", ""]
    assert column(page, MANUAL_COL) == ["yes", "", "no"] and column(page, REASON_COL)[0] == "badge"
    assert "present 1 / 2" in page.register_summary.text()
    page.sessions_pane.session_selected.emit(None)
    assert page.register_model.rowCount() == 0


def test_excuse_and_withdraw_an_excuse_with_a_reason(ctx, page, band) -> None:
    session = page.start_session("Rehearsal", "Band")
    ctx.service.manual_mark(session.id, band["Ada"], operator="tester", reason="badge")
    assert page.select_person(band["Ada"]) and not page.excuse_button.isEnabled()  # she is here
    assert page.ask_excuse() is None and "absent" in warnings(ctx)[-1]
    assert page.select_person(band["Bo"]) and page.excuse_button.isEnabled()
    assert not page.unexcuse_button.isEnabled()

    assert not page.excuse(band["Bo"], "  ")  # a reason is required
    assert column(page, STATUS_COL)[1] == "not yet"
    dialog = page.ask_excuse()
    assert dialog is not None and dialog.isVisible()
    assert any("Excuse Bo from 'Rehearsal'" in label.text() for label in dialog.findChildren(QLabel))
    assert not dialog.ok_button.isEnabled()
    dialog.reason_edit.setText("ill, note from home")
    dialog.accept()
    assert column(page, STATUS_COL)[1] == EXCUSED
    assert column(page, REASON_COL)[1] == "ill, note from home"
    audit = ctx.attendance.audit_log(session.id)[-1]
    assert (audit["action"], audit["person_id"], audit["operator"]) == ("excuse", band["Bo"], "tester")

    assert page.select_person(band["Bo"]) and page.unexcuse_button.isEnabled()
    dialog = page.ask_unexcuse()
    dialog.reason_edit.setText("the note was for another day")
    dialog.accept()
    assert column(page, STATUS_COL)[1] == "not yet"
    assert ctx.attendance.audit_log(session.id)[-1]["action"] == "unexcuse"
    assert not page.unexcuse(band["Bo"], "again")  # not excused: core's message reaches the notifier
    assert "not excused" in errors(ctx)[-1]


def test_excuses_need_the_operator(make_ctx, qtbot) -> None:
    ctx = make_ctx(operator="")
    page = AttendancePage(ctx)
    qtbot.addWidget(page)
    (bo,) = add_people(ctx, "Bo")
    ctx.service.add_to_group(ctx.service.create_group("Band").id, [bo])
    session = page.start_session("Rehearsal", "Band")
    assert not page.excuse(bo, "ill")
    assert "operator" in warnings(ctx)[-1]
    assert ctx.service.register(session.id).lines[0].status == ABSENT


def test_start_dialog_and_summary_on_the_attendance_tab(ctx, page, band) -> None:
    dialog = page.ask_start_session()
    dialog.name_edit.setText("Maths")
    dialog.set_group(band["group"])
    dialog.late_spin.setValue(5)
    dialog.accept()
    session = ctx.attendance.find_session("Maths")
    assert (session.group_name, session.late_after_min) == ("Band", 5)
    assert page.selected_session().id == session.id and column(page, PERSON_COL) == ["Ada", "Bo"]

    ctx.service.manual_mark(session.id, band["Bo"], operator="tester", reason="badge")
    assert page.stop_selected() is not None
    summary = page.summary_dialog
    assert summary is not None and summary.isVisible()
    assert summary.names(ABSENT) == ["Ada"] and summary.names(PRESENT) == ["Bo"]
    assert column(page, STATUS_COL) == [ABSENT, PRESENT]  # ended: nobody is "not yet" any more


def test_group_report_writes_p_and_a_letters(ctx, page, band, qtbot, tmp_path: Path) -> None:
    first = ctx.service.start_session("Monday", "Band")
    ctx.service.manual_mark(first.id, band["Ada"], operator="tester", reason="badge")
    ctx.service.stop_session(first.id)
    second = ctx.service.start_session("Tuesday", "Band")
    ctx.service.manual_mark(second.id, band["Bo"], operator="tester", reason="badge")
    ctx.service.excuse(second.id, band["Ada"], operator="tester", reason="ill")
    ctx.service.stop_session(second.id)
    today = dt.date.today().isoformat()

    path = tmp_path / "band.xlsx"
    task = page.group_report_to(band["group"], today, today, path)
    qtbot.waitUntil(lambda: task.settled, timeout=10_000)
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("external_id", "person") and rows[0][2].startswith("Monday")
    assert rows[0][3].startswith("Tuesday") and rows[0][4:] == ("attended", "of", "percent")
    assert [r[1:5] for r in rows[1:]] == [("Ada", "P", "E", 1), ("Bo", "A", "P", 1)]
    assert any("2 people × 2 sessions" in n.text for n in ctx.notifier.history if n.title == "Group report")

    # the same through the dialog: the group of the selected session is chosen, OK once a file is named
    page.select_session(second.id)
    dialog = page.ask_group_report()
    assert dialog.isVisible() and dialog.group_id == band["group"] and not dialog.ok_button.isEnabled()
    dialog.from_date.setDate(dialog.to_date.date())
    again = tmp_path / "band again.csv"
    dialog.path_edit.setText(str(again))
    assert dialog.ok_button.isEnabled()
    dialog.accept()
    qtbot.waitUntil(lambda: again.exists() and ctx.tasks.idle, timeout=10_000)
    assert "Ada" in again.read_text(encoding="utf-8-sig")
    assert errors(ctx) == []


def test_group_report_without_groups_is_explained(ctx, page) -> None:
    assert page.ask_group_report() is None
    assert "no groups" in warnings(ctx)[-1]
