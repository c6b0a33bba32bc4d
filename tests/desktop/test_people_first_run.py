"""The People tab keeps the selected person (by id) and the scroll position across a rename that re-sorts
the list; a delete can be undone while it waits; with nobody enrolled a first-run guide says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from desktop.pages.people_page import PeoplePage
from desktop.people.roster_dialog import ImportRosterDialog
from desktop.tables.people_table import NAME_COL
from tests.desktop.conftest import enrol_photos, errors


@pytest.fixture
def page(ctx, qtbot) -> PeoplePage:
    page = PeoplePage(ctx)
    qtbot.addWidget(page)
    page.resize(900, 400)
    page.show()
    yield page
    page.shutdown()


def names(page: PeoplePage) -> list[str]:
    return [page.model.index(r, NAME_COL).data() for r in range(page.model.rowCount())]


def rename(page: PeoplePage, qtbot, new_name: str) -> None:
    dialog = page.edit_selected()
    dialog.name_edit.setText(new_name)
    with qtbot.waitSignal(page.ctx.gallery_changed, timeout=20_000):
        dialog.save_button.click()
    qtbot.waitUntil(lambda: page.edit_dialog is None, timeout=5000)


def test_renames_keep_the_selection_on_the_same_person(ctx, page, qtbot, refs: Path) -> None:
    photo = refs / "alex-lacamoire.png"
    verdict = ctx.service.enroller().check_file(photo)
    ids = [ctx.service.enrol(f"Person {i:02d}", [verdict]).id for i in range(30)]
    target = ids[20]
    assert page.select_person(target)
    page.table.scrollTo(page.table.currentIndex())
    scroll = page.table.verticalScrollBar().value()
    assert scroll > 0

    rename(page, qtbot, "Aaron First")  # sorts to the top of the list
    assert names(page)[0] == "Aaron First"
    assert page.selected_person().id == target  # still the renamed person, at their new row
    rename(page, qtbot, "Zoe Last")  # the next rename hits the same person again
    assert names(page)[-1] == "Zoe Last" and page.selected_person().id == target
    assert [p.name for p in ctx.gallery.people() if p.id == target] == ["Zoe Last"]
    QApplication.processEvents()
    rows = page.table.visualRect(page.table.currentIndex())
    assert page.table.viewport().rect().intersects(rows)  # the selected row is in view
    assert errors(ctx) == []


def test_a_rename_of_someone_else_keeps_the_scroll_position(ctx, page, qtbot, refs: Path) -> None:
    verdict = ctx.service.enroller().check_file(refs / "alex-lacamoire.png")
    ids = [ctx.service.enrol(f"Person {i:02d}", [verdict]).id for i in range(30)]
    page.table.verticalScrollBar().setValue(5 * page.table.verticalHeader().defaultSectionSize())
    scroll = page.table.verticalScrollBar().value()
    assert scroll > 0 and page.selected_person() is None
    with qtbot.waitSignal(ctx.gallery_changed, timeout=20_000):
        ctx.service.update_person(ids[29], name="Person 29b")
    QApplication.processEvents()  # the view's own layout after the reset
    assert page.table.verticalScrollBar().value() == scroll


def test_undo_brings_a_deleted_person_back_with_their_samples(ctx, page, qtbot, refs: Path) -> None:
    lin = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png", refs / "lin-manuel-miranda.png")
    alex = enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png")
    page.select_person(lin)
    dialog = page.delete_selected()
    assert "2 face sample(s)" in dialog.text.text() and "no attendance marks" in dialog.text.text()
    dialog.delete_button.click()
    assert names(page) == ["Alex Lacamoire"] and page.undo_bar.isVisible()
    assert "Deleted Lin-Manuel Miranda" in page.undo_bar.label.text()
    page.undo_bar.undo_button.click()
    assert not page.undo_timer.isActive() and not page.undo_bar.isVisible()
    assert names(page) == ["Alex Lacamoire", "Lin-Manuel Miranda"]
    assert page.selected_person().id == lin and page.samples_model.rowCount() == 2
    assert ctx.gallery.person(lin).n_samples == 2
    assert page.commit_pending_delete() is None  # nothing waits any more

    # a second delete while one waits: the first goes through, the second waits
    page.select_person(lin)
    page.delete_person(lin, False)
    page.delete_person(alex, False)
    qtbot.waitUntil(lambda: page.pending_writes == 0, timeout=20_000)
    assert [p.id for p in ctx.gallery.people()] == [alex] and names(page) == []
    page.shutdown()  # closing the app completes the waiting delete
    assert ctx.gallery.people() == []


def test_the_first_run_guide_shows_while_nobody_is_enrolled(ctx, page, qtbot, refs: Path) -> None:
    assert page.table_stack.currentWidget() is page.guide and page.guide.isVisible()
    checklist = page.guide.checklist.text()
    assert "Enrol people" in checklist and "camera" in checklist and "session" in checklist
    page.guide.enrol_button.click()
    assert page.wizard is not None and page.wizard.isVisible()
    page.wizard.reject()
    page.guide.import_button.click()
    dialog = page.register.dialogs.get("import")
    assert isinstance(dialog, ImportRosterDialog) and dialog.isVisible()  # what Ctrl+I opens
    dialog.reject()

    with qtbot.waitSignal(ctx.gallery_changed, timeout=20_000):
        enrol_photos(ctx, "Alex Lacamoire", refs / "alex-lacamoire.png")
    assert page.table_stack.currentWidget() is page.table  # the table once someone is enrolled
