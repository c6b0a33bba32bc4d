"""The People tab: search, the selected person's samples, edit (a rename here), delete (with or without their
attendance history) and sample edits, all through core, with the table following the gallery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel

from desktop.pages.people_page import PeoplePage
from desktop.person_dialogs import UNDO_SECONDS
from desktop.tables.people_table import NAME_COL, SAMPLES_COL
from tests.conftest import shared_path
from tests.desktop.conftest import enrol_photos, errors


@pytest.fixture
def page(ctx, qtbot) -> PeoplePage:
    page = PeoplePage(ctx)
    qtbot.addWidget(page)
    page.show()
    yield page
    page.shutdown()


def table_names(page: PeoplePage) -> list[str]:
    return [page.model.index(r, NAME_COL).data() for r in range(page.model.rowCount())]


def wait_idle(page: PeoplePage, qtbot) -> None:
    qtbot.waitUntil(lambda: page.pending_writes == 0, timeout=20_000)


def test_search_box_filters_the_table(ctx, page, qtbot, refs: Path) -> None:
    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png")
    assert table_names(page) == ["Alex Lacamoire", "Lin-Manuel Miranda"]
    assert page.count_label.text() == "2 people enrolled"
    qtbot.keyClicks(page.search_edit, "miranda")
    assert table_names(page) == ["Lin-Manuel Miranda"]
    assert page.count_label.text() == "1 of 2 people shown"
    page.search_edit.clear()
    assert len(table_names(page)) == 2


def test_selecting_a_person_shows_their_samples(ctx, page, refs: Path) -> None:
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png", refs / "lin-manuel-miranda.png")
    assert not page.edit_button.isEnabled() and page.samples_model.rowCount() == 0
    assert page.select_person(lin)
    assert page.samples_model.person_id == lin and page.samples_model.rowCount() == 2
    assert "Lin-Manuel Miranda" in page.person_label.text()
    assert page.edit_button.isEnabled() and page.delete_button.isEnabled()
    thumb = page.samples_model.index(0).data(1)  # DecorationRole
    assert thumb is not None and not thumb.isNull()


def test_rename_goes_through_core_and_the_table_follows(ctx, page, qtbot, refs: Path) -> None:
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    session = ctx.attendance.start_session("Rehearsal")
    ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.99)
    page.select_person(lin)
    dialog = page.edit_selected()
    assert dialog is not None and dialog.isVisible()  # open() returned: nothing blocks
    assert dialog.name_edit.text() == "Lin-Manuel Miranda"
    dialog.name_edit.setText("Lin Miranda")
    with qtbot.waitSignal(ctx.attendance_changed, timeout=20_000):
        dialog.save_button.click()
    assert ctx.gallery.person(lin).name == "Lin Miranda"
    assert table_names(page) == ["Lin Miranda"]
    assert [m.person_name for m in ctx.attendance.marks(session.id)] == ["Lin Miranda"]
    assert page.selected_person().id == lin  # the selection survives the refresh
    assert page.panel_message.text() == "Saved Lin Miranda."

    again = page.edit_selected()
    again.name_edit.setText("   ")
    again.save_button.click()  # refused before reaching core
    assert "needs a name" in again.error_label.text() and ctx.gallery.person(lin).name == "Lin Miranda"
    assert again.isVisible()
    again.reject()


@pytest.mark.parametrize("erase", [False, True])
def test_delete_asks_whether_to_erase_the_history(ctx, page, qtbot, refs: Path, erase: bool) -> None:
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    alex = enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png")
    session = ctx.attendance.start_session("Rehearsal")
    ctx.attendance.mark(session.id, lin, "Lin-Manuel Miranda", score=0.99)
    ctx.attendance.mark(session.id, alex, "Alex Lacamoire", score=0.98)
    page.select_person(lin)
    dialog = page.delete_selected()
    assert dialog is not None and dialog.isVisible()
    assert "Lin-Manuel Miranda" in dialog.text.text() and "1 face sample(s)" in dialog.text.text()
    assert "1 attendance mark(s) are kept" in dialog.text.text()
    assert not dialog.erase_history.isChecked()  # keeping the history is the default
    dialog.erase_history.setChecked(erase)
    assert ("1 attendance mark(s) are erased too" in dialog.text.text()) == erase  # the text follows the choice
    dialog.delete_button.click()
    assert table_names(page) == ["Alex Lacamoire"] and page.undo_bar.isVisible()  # hidden, not yet deleted
    assert page.undo_timer.isActive() and page.undo_timer.interval() == UNDO_SECONDS * 1000
    assert len(ctx.gallery.people()) == 2 and page.count_label.text() == "1 people enrolled"
    with qtbot.waitSignal(ctx.gallery_changed, timeout=20_000):
        page.commit_pending_delete()  # what the timer does when the time is up
    wait_idle(page, qtbot)
    assert not page.undo_bar.isVisible() and not page.undo_delete()  # too late to undo

    assert [p.name for p in ctx.gallery.people()] == ["Alex Lacamoire"]
    assert table_names(page) == ["Alex Lacamoire"]
    assert page.samples_model.person_id is None  # the deleted person's samples are gone from the panel
    marks = sorted(m.person_name for m in ctx.attendance.marks(session.id))
    assert marks == (["Alex Lacamoire"] if erase else ["Alex Lacamoire", "Lin-Manuel Miranda"])
    [audit] = [a for a in ctx.attendance.audit_log() if a["action"] == "erase_person"]
    assert audit["operator"] == "tester" and audit["person_name"] == ""  # erased everywhere, the audit included
    details = json.loads(audit["details"])
    assert details["erase_marks"] == erase and details["samples"] == 1 and details["marks"] == (1 if erase else 0)
    assert all(ctx.attendance.evidence(m.id) is None for m in ctx.attendance.marks(session.id)
               if m.person_name == "Lin-Manuel Miranda")  # the kept marks lost their face crop
    assert errors(ctx) == []


def test_cancelling_the_delete_dialog_deletes_nothing(ctx, page, refs: Path) -> None:
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    page.select_person(lin)
    page.delete_selected().reject()
    assert page.pending_writes == 0 and [p.id for p in ctx.gallery.people()] == [lin]


def test_removing_the_last_sample_shows_cores_message(ctx, page, qtbot, refs: Path) -> None:
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png", refs / "lin-manuel-miranda.png")
    page.select_person(lin)
    asked: list[str] = []
    page.ask = lambda title, question, on_yes: (asked.append(question), on_yes())
    page.samples_view.selectionModel().select(page.samples_model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    page.remove_selected_sample()
    wait_idle(page, qtbot)
    assert asked and ctx.gallery.person(lin).n_samples == 1
    assert page.model.index(0, SAMPLES_COL).data() == 1 and page.samples_model.rowCount() == 1

    page.samples_view.selectionModel().select(page.samples_model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    page.remove_selected_sample()
    wait_idle(page, qtbot)
    assert ctx.gallery.person(lin).n_samples == 1  # core refused
    assert errors(ctx) == ["Removing a sample: this is the person's last sample; delete the person instead"]
    assert "last sample" in page.panel_message.text()


def test_adding_samples_from_photos_keeps_only_usable_ones(ctx, page, qtbot, refs: Path, tmp_path: Path) -> None:
    alex = enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png")
    corrupt = tmp_path / "scan.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    page.select_person(alex)
    page.add_samples(alex, [refs / "alex-lacamoire.png", corrupt, shared_path("faces", "misc", "two_people.jpg")])
    wait_idle(page, qtbot)
    assert ctx.gallery.person(alex).n_samples == 2
    assert page.samples_model.rowCount() == 2 and page.model.index(0, SAMPLES_COL).data() == 2
    [warning] = [n for n in ctx.notifier.history if n.level == "warning"]
    assert "Added 1 sample(s)" in warning.text and "scan.png" in warning.text and "two_people.jpg: 2 faces" in warning.text

    page.add_samples(alex, [corrupt])  # nothing usable: nothing added, the reason is reported
    wait_idle(page, qtbot)
    assert ctx.gallery.person(alex).n_samples == 2
    assert "None of the photos is usable" in errors(ctx)[-1] and "scan.png" in errors(ctx)[-1]


def test_enrol_button_opens_the_wizard_without_blocking(ctx, page, qtbot, refs: Path) -> None:
    page.enrol_button.click()
    wizard = page.wizard
    assert wizard is not None and wizard.isVisible() and not wizard.isModal()
    assert page.open_enrol_wizard() is wizard  # a second click brings the same one forward
    wizard.name_edit.setText("Alex Lacamoire")
    assert wizard.next()
    wizard.add_photos([refs / "alex-lacamoire.png"])
    qtbot.waitUntil(lambda: wizard.candidates.pending == 0, timeout=20_000)
    assert wizard.next()
    with qtbot.waitSignal(wizard.enrolled, timeout=20_000):
        wizard.finish()
    assert table_names(page) == ["Alex Lacamoire"]
    assert page.selected_person().name == "Alex Lacamoire"  # the new person is selected
    assert page.samples_model.rowCount() == 1
    qtbot.waitUntil(lambda: page.wizard is None, timeout=5000)  # closed and released
