"""The People tab's register side: editing every field of a person, the group filter and manager, adding
and removing people from groups, a person's history, importing a class list (preview, import with
progress, cancel, a broken file) and enrolling from a folder. People without photos are made through
core by importing a tiny class list (no models involved); only the import and folder tests check photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from desktop.main_window import MainWindow
from desktop.pages.people_page import PeoplePage
from desktop.people.common import PROBLEM_BACKGROUND, SCREEN, WARNING_BACKGROUND, cell_texts
from desktop.people.page_register import ALL, NO_GROUP
from desktop.tables.people_table import NAME_COL
from tests.desktop.conftest import errors


@pytest.fixture
def page(ctx, qtbot) -> PeoplePage:
    page = PeoplePage(ctx)
    qtbot.addWidget(page)
    page.show()
    yield page
    page.shutdown()


def write_list(path: Path, *rows: str, header: str = "name,external_id,group,photos,notes") -> Path:
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return path


def add_people(ctx, tmp_path: Path, *rows: str) -> dict[str, int]:
    """People (no samples) from class-list rows, through core; name -> id."""
    preview = ctx.service.preview_roster(write_list(tmp_path / "people.csv", *rows))
    ctx.service.import_roster(preview)
    return {p.name: p.id for p in ctx.service.gallery.people()}


def names(page: PeoplePage) -> list[str]:
    return [page.model.index(r, NAME_COL).data() for r in range(page.model.rowCount())]


def select(page: PeoplePage, *person_ids: int) -> None:
    model = page.table.selectionModel()
    model.clearSelection()
    for pid in person_ids:
        model.select(page.model.index(page.model.row_of(pid), NAME_COL),
                     QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    model.setCurrentIndex(page.model.index(page.model.row_of(person_ids[0]), NAME_COL),
                          QItemSelectionModel.SelectionFlag.NoUpdate)


def fits_the_screen(dialog) -> bool:
    hint = dialog.minimumSizeHint()
    return (dialog.width() <= SCREEN[0] and dialog.height() <= SCREEN[1]
            and hint.width() <= SCREEN[0] and hint.height() <= SCREEN[1] - 60)


def wait_done(dialog, qtbot) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30_000)


# ---------------------------------------------------------------------- editing a person


def test_edit_dialog_edits_every_field(ctx, page, qtbot, tmp_path: Path) -> None:
    ids = add_people(ctx, tmp_path, "Ada Lovelace,E1,Maths,,", "Bob,,,,")
    ctx.service.create_group("Choir")
    page.select_person(ids["Ada Lovelace"])
    dialog = page.edit_selected()
    assert fits_the_screen(dialog) and dialog.save_button.isDefault()
    assert dialog.checked_groups() == ["Maths"]
    assert sorted(dialog.groups_list.item(i).text() for i in range(dialog.groups_list.count())) == ["Choir", "Maths"]
    dialog.name_edit.setText("Ada King")
    dialog.external_id_edit.setText("E9")
    dialog.set_groups(["Choir"])
    dialog.new_group_edit.setText("Chess club")  # typed, not added: Save adds it
    dialog.notes_edit.setPlainText("left-handed")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        dialog.save_button.click()
    ada = ctx.gallery.person(ids["Ada Lovelace"])
    assert (ada.name, ada.external_id, sorted(ada.groups), ada.notes) == ("Ada King", "E9", ["Chess club", "Choir"],
                                                                         "left-handed")
    assert names(page) == ["Ada King", "Bob"] and page.selected_person().id == ada.id
    assert errors(ctx) == []


def test_edit_warns_before_a_duplicate_name_and_shows_cores_refusal(ctx, page, tmp_path: Path) -> None:
    ids = add_people(ctx, tmp_path, "Ada,E1,,,", "Bob,E2,,,")
    page.select_person(ids["Bob"])
    dialog = page.edit_selected()
    asked: list[str] = []
    dialog.ask = lambda title, question, on_yes: asked.append(question)  # answered No
    dialog.name_edit.setText("ada")
    dialog.save_button.click()
    assert asked == ["There is already a person called ada (External ID E1). Save anyway?"]
    assert ctx.gallery.person(ids["Bob"]).name == "Bob" and dialog.isVisible()

    dialog.ask = lambda title, question, on_yes: on_yes()  # answered Yes
    dialog.name_edit.setText("Ada")
    dialog.external_id_edit.setText("E1")  # Ada's: core refuses, the dialog stays open with the reason
    dialog.save_button.click()
    assert "already has the External ID 'E1'" in dialog.error_label.text() and dialog.isVisible()
    assert ctx.gallery.person(ids["Bob"]).name == "Bob"

    dialog.external_id_edit.clear()  # no External ID: allowed, and the duplicate name was confirmed
    dialog.save_button.click()
    bob = ctx.gallery.person(ids["Bob"])
    assert (bob.name, bob.external_id) == ("Ada", None)
    assert [e for e in errors(ctx) if "External ID" in e]  # the refusal was notified too


def test_the_dialogs_work_from_the_keyboard(ctx, page, qtbot, tmp_path: Path) -> None:
    ids = add_people(ctx, tmp_path, "Ada,,,,")
    page.select_person(ids["Ada"])
    dialog = page.edit_selected()
    qtbot.keyClicks(dialog.new_group_edit, "Chess")
    qtbot.keyClick(dialog.new_group_edit, Qt.Key.Key_Return)  # adds the group, does not save
    assert dialog.isVisible() and dialog.checked_groups() == ["Chess"] and ctx.gallery.person(ids["Ada"]).groups == ()
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)  # Enter elsewhere saves
    assert not dialog.isVisible() and ctx.gallery.person(ids["Ada"]).groups == ("Chess",)

    groups = page.register.open_groups_dialog()
    qtbot.keyClicks(groups.name_edit, "Choir")
    qtbot.keyClick(groups.name_edit, Qt.Key.Key_Return)  # creates; the dialog stays
    assert groups.isVisible() and [g.name for g in ctx.service.groups.all()] == ["Chess", "Choir"]
    qtbot.keyClick(groups, Qt.Key.Key_Escape)
    assert not groups.isVisible()

    folder = page.register.open_folder_dialog()
    qtbot.keyClicks(folder.source_edit, str(tmp_path / "nowhere"))
    qtbot.keyClick(folder.source_edit, Qt.Key.Key_Return)  # reads the typed folder
    wait_done(folder, qtbot)
    assert "is not a folder" in folder.error_label.text()
    qtbot.keyClick(folder, Qt.Key.Key_Escape)
    assert not folder.isVisible()


# ---------------------------------------------------------------------- groups


def test_group_filter_shows_one_group_or_nobodys(ctx, page, tmp_path: Path) -> None:
    add_people(ctx, tmp_path, "Ada,,7B,,", "Bob,,7B; Choir,,", "Cy,,,,")
    combo = page.register.group_filter
    assert [combo.itemText(i) for i in range(combo.count())] == ["All groups", "7B (2)", "Choir (1)", "No group"]
    page.register.set_group_filter("Choir")
    assert names(page) == ["Bob"] and page.count_label.text() == "1 of 3 people shown"
    page.register.set_group_filter(NO_GROUP)
    assert names(page) == ["Cy"]
    page.register.set_group_filter("7B")
    ctx.service.rename_group(ctx.service.groups.named("7B").id, "8B")  # the chosen group is gone: everyone
    assert combo.currentData() is ALL and names(page) == ["Ada", "Bob", "Cy"]


def test_groups_manager_creates_renames_adds_removes_and_deletes(ctx, page, qtbot, tmp_path: Path) -> None:
    ids = add_people(ctx, tmp_path, "Ada,,,,", "Bob,,,,", "Cy,,,,")
    dialog = page.register.open_groups_dialog()
    assert fits_the_screen(dialog) and dialog.table.rowCount() == 0
    dialog.name_edit.setText("Choir")
    dialog.create_button.click()
    assert cell_texts(dialog.table) == [["Choir", "0"]] and dialog.selected_group().name == "Choir"
    assert not dialog.add_button.isEnabled()  # nobody selected on the page

    select(page, ids["Ada"], ids["Bob"])
    assert dialog.add_button.isEnabled() and "2 people selected" in dialog.people_label.text()
    dialog.add_button.click()
    assert cell_texts(dialog.table) == [["Choir", "2"]]
    assert sorted(ctx.service.groups.members(dialog.selected_group().id)) == sorted([ids["Ada"], ids["Bob"]])
    select(page, ids["Bob"])
    dialog.remove_button.click()
    assert ctx.service.groups.members(dialog.selected_group().id) == [ids["Ada"]]
    assert "Removed 1 of 1" in dialog.message.text()

    dialog.name_edit.setText("Chorus")
    dialog.rename_button.click()
    assert cell_texts(dialog.table) == [["Chorus", "1"]] and ctx.gallery.person(ids["Ada"]).groups == ("Chorus",)

    session = ctx.service.start_session("Practice", "Chorus")
    dialog.ask = lambda title, question, on_yes: on_yes()
    dialog.delete_button.click()  # refused while its session is open
    assert "open session" in dialog.message.text() and dialog.table.rowCount() == 1
    assert any("open session" in e for e in errors(ctx))
    ctx.service.stop_session(session.id)
    dialog.delete_button.click()
    assert dialog.table.rowCount() == 0 and ctx.gallery.person(ids["Ada"]).groups == ()
    dialog.name_edit.setText("Chorus")
    dialog.create_button.click()
    dialog.create_button.click()  # a second one with the same name: core's message
    assert "already a group called 'Chorus'" in dialog.message.text()


def test_add_and_remove_the_selected_people_from_a_group(ctx, page, tmp_path: Path) -> None:
    ids = add_people(ctx, tmp_path, "Ada,,,,", "Bob,,Choir,,")
    select(page, ids["Ada"], ids["Bob"])
    assert page.register.add_to_group_button.isEnabled() and page.register.remove_from_group_button.isEnabled()
    chooser = page.register.add_selected_to_group()
    assert [chooser.combo.itemText(i) for i in range(chooser.combo.count())] == ["Choir"]
    chooser.combo.setCurrentText("Band")  # a new group: created
    chooser.ok_button.click()
    assert sorted(ctx.service.groups.members(ctx.service.groups.named("Band").id)) == sorted(ids.values())
    assert page.panel_message.text() == "Added 2 of 2 to Band."

    select(page, ids["Ada"], ids["Bob"])
    chooser = page.register.remove_selected_from_group()
    assert [chooser.combo.itemText(i) for i in range(chooser.combo.count())] == ["Band", "Choir"]
    chooser.combo.setCurrentText("Choir")
    chooser.ok_button.click()
    assert ctx.gallery.person(ids["Bob"]).groups == ("Band",) and ctx.gallery.person(ids["Ada"]).groups == ("Band",)
    menu = page.register.show_context_menu(page.table.rect().center())
    assert [a.text() for a in menu.actions()][:2] == ["&Edit…", "&History…"]
    menu.close()


# ---------------------------------------------------------------------- history


def test_history_dialog_lists_the_persons_sessions(ctx, page, tmp_path: Path) -> None:
    ids = add_people(ctx, tmp_path, "Ada,E1,7B,,", "Bob,,7B,,")
    monday = ctx.service.start_session("Monday", "7B")
    ctx.attendance.mark(monday.id, ids["Ada"], "Ada", score=0.99)
    ctx.service.stop_session(monday.id)
    ctx.service.start_session("Tuesday", "7B")
    page.select_person(ids["Ada"])
    assert page.register.history_button.isEnabled()
    dialog = page.register.open_history()
    assert fits_the_screen(dialog) and dialog.windowTitle() == "History of Ada"
    rows = cell_texts(dialog.table)
    assert [(r[0], r[1], r[3]) for r in rows] == [("Tuesday (open)", "7B", "absent"), ("Monday", "7B", "present")]
    assert rows[1][2] == monday.started_at[:10] and rows[1][4] != "" and rows[0][4] == ""
    assert dialog.summary_label.text() == "2 session(s): 1 present, 1 absent"

    page.select_person(ids["Bob"])
    other = page.register.open_history()  # another person: a new dialog
    assert other is not dialog and other.windowTitle() == "History of Bob"


# ---------------------------------------------------------------------- class lists


def test_import_previews_imports_with_progress_and_reports(ctx, page, qtbot, tmp_path: Path, refs: Path) -> None:
    csv = write_list(tmp_path / "class.csv",
                     f"Lin-Manuel Miranda,E1,Cast,{refs / 'lin-manuel-miranda.png'},",
                     f"Alex Lacamoire,E2,Cast; Band,{refs / 'alex-lacamoire.png'},music",
                     "Nobody Here,E3,,missing.png,",
                     ",E4,Cast,,")
    dialog = page.register.open_import_dialog(str(csv))
    assert fits_the_screen(dialog) and not dialog.run_button.isEnabled()  # until the preview is read
    wait_done(dialog, qtbot)
    rows = cell_texts(dialog.table)
    assert [(r[0], r[1], r[4], r[5]) for r in rows] == [
        ("2", "Lin-Manuel Miranda", "1", "new"), ("3", "Alex Lacamoire", "1", "new"),
        ("4", "Nobody Here", "0", "new"), ("5", "", "0", "skip")]
    assert "no photos at" in rows[2][6] and rows[3][6]  # the reasons are shown
    assert dialog.table.item(2, 0).background().color() == WARNING_BACKGROUND
    assert dialog.table.item(3, 0).background().color() == PROBLEM_BACKGROUND
    assert dialog.summary_label.text().startswith("4 rows: 3 new, 0 to update, 0 unchanged, 1 skipped")
    assert dialog.run_button.isEnabled() and ctx.gallery.count_people() == 0  # the preview wrote nothing

    dialog.run_button.click()
    assert dialog.busy and dialog.cancel_button.isEnabled() and not dialog.run_button.isEnabled()
    wait_done(dialog, qtbot)
    assert dialog.progress.value() == dialog.progress.maximum() == 2 and dialog.progress_label.text() == "Done."
    report = dialog.report.toPlainText()
    assert report.startswith("3 people added, 0 updated.\n2 of 2 people enrolled or updated, 2 need more photos")
    assert "Need more photos:" in report and "Lin-Manuel Miranda: updated, 1 usable sample(s)" in report
    people = {p.name: p for p in ctx.gallery.people()}
    assert sorted(people) == ["Alex Lacamoire", "Lin-Manuel Miranda", "Nobody Here"]
    assert sorted(people["Alex Lacamoire"].groups) == ["Band", "Cast"] and people["Alex Lacamoire"].n_samples == 1
    assert people["Nobody Here"].n_samples == 0 and not dialog.run_button.isEnabled()  # ran once
    assert errors(ctx) == [] and names(page) == sorted(people)


def test_cancelling_an_import_stops_before_the_photos(ctx, page, qtbot, tmp_path: Path, refs: Path) -> None:
    csv = write_list(tmp_path / "class.csv", f"Lin-Manuel Miranda,E1,,{refs}/lin-manuel-miranda.png,",
                     f"Alex Lacamoire,E2,,{refs}/alex-lacamoire.png,")
    dialog = page.register.open_import_dialog(str(csv))
    wait_done(dialog, qtbot)
    assert dialog.start() is not None
    dialog.reject()  # Esc while it runs cancels (the task has not reached the first photo yet)
    assert dialog.isVisible()
    wait_done(dialog, qtbot)
    assert dialog.progress_label.text() == "Cancelled." and "cancelled" in dialog.report.toPlainText()
    assert [p.n_samples for p in ctx.gallery.people()] == [0, 0]  # the people are listed, no photo was checked
    dialog.reject()
    assert not dialog.isVisible()


@pytest.mark.parametrize("content, message", [(os.urandom(2048), "is not a readable XLSX file"),
                                              (b"", "is not a readable XLSX file")])
def test_a_broken_class_list_shows_why(ctx, page, qtbot, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "class.xlsx"
    path.write_bytes(content)
    dialog = page.register.open_import_dialog(str(path))
    wait_done(dialog, qtbot)
    assert message in dialog.error_label.text() and dialog.table.rowCount() == 0
    assert not dialog.run_button.isEnabled() and any(message in e for e in errors(ctx))


def test_a_list_with_nothing_to_import_cannot_be_imported(ctx, page, qtbot, tmp_path: Path) -> None:
    dialog = page.register.open_import_dialog(str(write_list(tmp_path / "c.csv", ",E1,,,", ",E2,,,")))
    wait_done(dialog, qtbot)
    assert dialog.summary_label.text().endswith("Nothing to import.") and not dialog.run_button.isEnabled()
    dialog.load(str(write_list(tmp_path / "d.csv", "Ada;E1", header="id;nom")))  # no name column
    wait_done(dialog, qtbot)
    assert "has no 'name' column" in dialog.error_label.text()


def test_file_menu_opens_the_import_and_folder_dialogs(ctx, qtbot) -> None:
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    assert window.import_action.shortcut().toString() == "Ctrl+I"
    window.import_action.trigger()
    window.folder_action.trigger()
    assert window.people.register.dialogs["import"].isVisible()
    assert window.people.register.dialogs["folder"].isVisible()
    window.live.shutdown()


# ---------------------------------------------------------------------- a folder


def test_enrol_from_folder_into_a_group(ctx, page, qtbot, tmp_path: Path, refs: Path) -> None:
    ids = add_people(ctx, tmp_path, "Alex Lacamoire,,,,")
    root = tmp_path / "cast"
    for name, photo in (("Lin-Manuel Miranda", "lin-manuel-miranda.png"), ("Alex Lacamoire", "alex-lacamoire.png")):
        (root / name).mkdir(parents=True)
        (root / name / photo).symlink_to(refs / photo)
    (root / "loose.png").symlink_to(refs / "alex-lacamoire.png")  # photos directly in the folder are not used
    dialog = page.register.open_folder_dialog(str(root), group="Cast")
    assert fits_the_screen(dialog)
    wait_done(dialog, qtbot)
    assert cell_texts(dialog.table) == [["Alex Lacamoire", "Alex Lacamoire", "existing person: adds photos", "1"],
                                        ["Lin-Manuel Miranda", "Lin-Manuel Miranda", "new person", "1"]]
    assert dialog.summary_label.text() == "2 sub-folder(s): 1 new, 1 already enrolled; 2 photos to check"
    dialog.run_button.click()
    wait_done(dialog, qtbot)
    people = {p.name: p for p in ctx.gallery.people()}
    assert people["Alex Lacamoire"].id == ids["Alex Lacamoire"] and people["Alex Lacamoire"].n_samples == 1
    assert people["Lin-Manuel Miranda"].n_samples == 1
    assert all(p.groups == ("Cast",) for p in people.values())
    assert dialog.report.toPlainText().startswith("2 of 2 people enrolled or updated")
    assert dialog.progress.value() == 2 and errors(ctx) == []
    assert [dialog.group_combo.itemText(i) for i in range(dialog.group_combo.count())] == ["", "Cast"]
