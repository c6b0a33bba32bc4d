"""The register on the Live tab: the start-session dialog (group, scheduled start, lateness), the
register panel following marks, the kiosk view (welcome, count, Esc and the PIN) and the summary
shown when a session ends, with its export."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QImage

from core.errors import ConfigError
from core.register.status import ABSENT, EXCUSED, GUEST, LATE, PRESENT
from desktop.config import DesktopConfig
from desktop.live_worker import LiveFrame
from desktop.pages.live_page import LivePage
from desktop.register.kiosk import WELCOME_MS, pin_ok, welcome_text
from tests.desktop.conftest import errors
from tests.desktop.test_marks_table import add_people


@pytest.fixture
def page(ctx, qtbot) -> LivePage:
    page = LivePage(ctx)
    qtbot.addWidget(page)
    page.show()
    yield page
    page.shutdown()


@pytest.fixture
def band(ctx) -> dict[str, int]:
    """Ada, Bo and Cy in the group Band; Eve enrolled but in no group."""
    ids = dict(zip(("Ada", "Bo", "Cy", "Eve"), add_people(ctx, "Ada", "Bo", "Cy", "Eve")))
    group = ctx.service.create_group("Band")
    ctx.service.add_to_group(group.id, [ids["Ada"], ids["Bo"], ids["Cy"]])
    ids["group"] = group.id
    return ids


def iso_minutes_ago(minutes: int) -> str:
    return (dt.datetime.now().astimezone() - dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")


def test_start_session_dialog_starts_a_group_session_with_its_lateness(ctx, page, band, qtbot) -> None:
    dialog = page.ask_start_session()
    assert dialog.isVisible() and dialog.ok_button.isDefault()
    assert dialog.name.startswith("Session ")  # a default name: Enter alone starts a session
    assert [dialog.group_combo.itemData(i) for i in range(dialog.group_combo.count())] == [None, band["group"]]
    assert "Band (3 people)" in dialog.group_combo.itemText(1)
    assert dialog.late_spin.value() == 10
    hint = dialog.sizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768
    dialog.name_edit.setText("Rehearsal")
    dialog.set_group(band["group"])
    dialog.start_edit.setDateTime(QDateTime.fromString("2026-12-07 09:00", "yyyy-MM-dd HH:mm"))
    dialog.late_spin.setValue(15)
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)  # the default button starts it

    session = ctx.attendance.find_session("Rehearsal")
    assert session is not None and session.group_id == band["group"] and session.late_after_min == 15
    assert session.scheduled_start.startswith("2026-12-07T09:00:00")
    assert page.current_session_id() == session.id  # the new session is the one watched
    assert page.register_panel.count_label.text() == "present 0 / 3"
    assert errors(ctx) == []


def test_start_dialog_without_a_name_or_with_no_lateness(ctx, page, band) -> None:
    dialog = page.ask_start_session()
    dialog.name_edit.setText("   ")
    assert not dialog.ok_button.isEnabled()
    dialog.name_edit.setText("Open day")
    dialog.late_spin.setValue(0)
    assert dialog.late_spin.text() == "never late" and dialog.late_after_min is None
    dialog.accept()
    session = ctx.attendance.find_session("Open day")
    assert session.group_id is None and session.late_after_min is None
    assert page.register_panel.count_label.text() == "0 marked"


def test_register_panel_follows_marks_excuses_and_guests(ctx, page, band, qtbot) -> None:
    session = ctx.service.start_session("Rehearsal", "Band", scheduled_start=iso_minutes_ago(0), late_after_min=10)
    page.start_session("Rehearsal")
    panel = page.register_panel
    assert panel.count_label.text() == "present 0 / 3"
    assert panel.shown() == ["Ada · not yet", "Bo · not yet", "Cy · not yet"]

    with qtbot.waitSignal(panel.arrived) as arrived:
        ctx.attendance.mark(session.id, band["Ada"], "Ada", score=0.9, confidence=70)  # as the live worker does
        ctx.attendance_changed.emit()
    assert [line.name for line in arrived.args[0]] == ["Ada"]
    assert panel.count_label.text() == "present 1 / 3"
    seen = ctx.service.register(session.id).lines[0].first_seen[11:16]
    assert panel.shown()[0] == f"✓ Ada · {seen}"

    ctx.service.excuse(session.id, band["Cy"], operator="tester", reason="ill")  # reported: no emit needed
    ctx.service.manual_mark(session.id, band["Eve"], operator="tester", reason="visiting")
    assert panel.count_label.text() == "present 1 / 3"
    assert panel.shown()[1:] == ["Bo · not yet", "Cy · excused (ill)", f"+ Eve · {panel.register.lines[3].first_seen[11:16]} guest"]
    assert "present 1 / 3" in panel.summary_label.text() and "1 excused" in panel.summary_label.text()

    late = ctx.service.start_session("Late call", "Band", scheduled_start=iso_minutes_ago(30), late_after_min=5)
    page.start_session("Late call")
    ctx.service.manual_mark(late.id, band["Bo"], operator="tester", reason="at the door")
    assert panel.count_label.text() == "present 1 / 3"
    assert panel.shown()[1].endswith(" late") and panel.register.with_status(LATE)[0].name == "Bo"

    page._select_session(None)
    assert panel.count_label.text() == "No session" and panel.shown() == []


def test_kiosk_opens_full_screen_welcomes_new_marks_and_esc_leaves(ctx, page, band, qtbot) -> None:
    session = ctx.service.start_session("Rehearsal", "Band")
    page.start_session("Rehearsal")
    kiosk = page.open_kiosk()
    qtbot.waitUntil(kiosk.isVisible)
    assert kiosk.isFullScreen() and kiosk.count_label.text() == "present 0 of 3"
    assert kiosk.session_label.text() == "Rehearsal" and kiosk.welcome_label.text() == ""

    ctx.service.manual_mark(session.id, band["Ada"], operator="tester", reason="badge")
    assert kiosk.welcome_label.text() == "Welcome, Ada"
    assert kiosk.count_label.text() == "present 1 of 3"
    assert kiosk._welcome_timer.isActive() and kiosk._welcome_timer.interval() == WELCOME_MS
    kiosk._welcome_timer.timeout.emit()  # the few seconds are up
    assert kiosk.welcome_label.text() == ""
    ctx.service.excuse(session.id, band["Cy"], operator="tester", reason="ill")  # nobody arrived: no welcome
    assert kiosk.welcome_label.text() == ""

    # the frames the worker publishes go to the kiosk while it is up
    image = QImage(64, 48, QImage.Format.Format_RGB888)
    page.worker._publish(LiveFrame(image, [], 0, 0.0, 0.0, 0.0, 1.0, 25.0, 0))
    qtbot.waitUntil(lambda: not kiosk.view.image.isNull())
    assert page.view.image.isNull()

    qtbot.keyClick(kiosk, Qt.Key.Key_Escape)
    assert not kiosk.isVisible()
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow)
    qtbot.keyClick(page.session_combo, Qt.Key.Key_F11)  # the Live tab's shortcut
    assert kiosk.isVisible()
    qtbot.keyClick(kiosk, Qt.Key.Key_F11)  # F11 leaves too
    assert not kiosk.isVisible()
    page.toggle_kiosk()  # the Live tab's button
    assert kiosk.isVisible()
    page.toggle_kiosk()
    assert not kiosk.isVisible()


def test_kiosk_with_a_pin_asks_for_it_before_leaving(make_ctx, qtbot) -> None:
    ctx = make_ctx(kiosk_pin="2468")
    page = LivePage(ctx)
    qtbot.addWidget(page)
    kiosk = page.open_kiosk()
    qtbot.waitUntil(kiosk.isVisible)
    assert kiosk.count_label.text().startswith("No session")
    qtbot.keyClick(kiosk, Qt.Key.Key_Escape)
    assert kiosk.isVisible() and kiosk.pin_box.isVisible()
    qtbot.keyClicks(kiosk.pin_edit, "1111")
    qtbot.keyClick(kiosk.pin_edit, Qt.Key.Key_Return)
    assert kiosk.isVisible() and kiosk.pin_message.text() == "Wrong PIN" and kiosk.pin_edit.text() == ""
    kiosk.close()  # Alt+F4 is no way out either
    assert kiosk.isVisible()
    qtbot.keyClick(kiosk.pin_edit, Qt.Key.Key_Escape)  # Esc again: stop asking
    assert kiosk.isVisible() and not kiosk.pin_box.isVisible()
    qtbot.keyClick(kiosk, Qt.Key.Key_Escape)
    qtbot.keyClicks(kiosk.pin_edit, "2468")
    qtbot.keyClick(kiosk.pin_edit, Qt.Key.Key_Return)
    assert not kiosk.isVisible()
    page.shutdown()


def test_pin_check_and_welcome_text() -> None:
    assert pin_ok("anything", "") and pin_ok("1234", "1234") and pin_ok(" 1234 ", "1234")
    assert not pin_ok("", "1234") and not pin_ok("12345", "1234")
    with pytest.raises(ConfigError, match="digits"):
        DesktopConfig(kiosk_pin="12ab")
    assert welcome_text(["Ada"]) == "Welcome, Ada"
    assert welcome_text(["Ada", "Bo", "Cy"]) == "Welcome, Ada, Bo and Cy"


def test_ending_a_session_shows_its_summary_and_exports_it(ctx, page, band, qtbot, tmp_path: Path) -> None:
    session = ctx.service.start_session("Rehearsal", "Band")
    page.start_session("Rehearsal")
    ctx.service.manual_mark(session.id, band["Ada"], operator="tester", reason="badge")
    ctx.service.excuse(session.id, band["Cy"], operator="tester", reason="ill")
    ctx.attendance.mark(session.id, band["Eve"], "Eve", score=0.9, confidence=66)
    ctx.attendance_changed.emit()

    dialog = page.end_session()
    assert dialog is not None and dialog.isVisible() and not ctx.attendance.session(session.id).open
    assert dialog.names(PRESENT) == ["Ada"] and dialog.names(ABSENT) == ["Bo"]
    assert dialog.names(EXCUSED) == ["Cy"] and dialog.names(GUEST) == ["Eve"] and dialog.names(LATE) == []
    assert dialog.summary_label.text() == "present 1 / 3, 1 absent, 1 excused, 1 guest"
    assert dialog.close_button.isDefault() and dialog.width() <= 1366 and dialog.height() <= 768
    assert page.current_session_id() is None  # the ended session is no longer offered

    path = tmp_path / "rehearsal.xlsx"
    task = dialog.export_to(path)
    qtbot.waitUntil(lambda: task.settled, timeout=10_000)
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert sorted((r[2], r[4]) for r in rows[1:]) == [("Ada", "present"), ("Bo", "absent"), ("Cy", "excused"),
                                                      ("Eve", "guest")]
    csv_path = tmp_path / "rehearsal.csv"
    task = dialog.export_to(csv_path)
    qtbot.waitUntil(lambda: task.settled, timeout=10_000)
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        assert {r["person"]: r["status"] for r in csv.DictReader(fh)}["Bo"] == "absent"
    assert any("4 rows written" in n.text for n in ctx.notifier.history if n.title == "Export")
    dialog.reject()
    assert not dialog.isVisible() and errors(ctx) == []


def test_the_kiosk_pin_is_set_in_settings(ctx, qtbot) -> None:
    from desktop.pages.settings_page import SettingsPage

    settings = SettingsPage(ctx)
    qtbot.addWidget(settings)
    group = settings.general_group
    assert not group.apply_kiosk_pin("12ab") and ctx.config.kiosk_pin == ""
    assert "digits" in errors(ctx)[-1] and group.kiosk_pin_edit.text() == ""
    assert group.apply_kiosk_pin("2468") and ctx.config.kiosk_pin == "2468"
    assert '"kiosk_pin": "2468"' in ctx.config_file.read_text(encoding="utf-8")
