"""The main window's menu bar, shortcuts, Help dialogs, Advanced area and notification area."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

from desktop.main_window import TRAINING_NOTE, MainWindow
from desktop.notifier import Notice

LAPTOP = (1366, 768)
DECORATIONS = 60  # title bar and taskbar


@pytest.fixture
def window(ctx, qtbot, tmp_path: Path):
    made = MainWindow(ctx, state_file=tmp_path / "window.ini")
    qtbot.addWidget(made)
    yield made
    made.live.shutdown()


def test_menus_and_their_shortcuts(window) -> None:
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&View", "&Live", "&People", "&Help"]
    keys = {a.text(): a.shortcut().toString() for a in window.menu.actions()}
    assert keys["&Quit"] == "Ctrl+Q" and keys["&Kiosk view"] == "F11"
    assert keys["&Start recognition"] == "Ctrl+R" and keys["S&top recognition"] == "Ctrl+."
    assert keys["&Enrol new person…"] == "Ctrl+E" and keys["&Find person"] == "Ctrl+F"
    assert [keys[f"&{n} {t}"] for n, t in enumerate(["Live", "People", "Attendance", "Settings", "Training"], 1)] \
        == [f"Ctrl+{n}" for n in range(1, 6)]
    for menu in window.menuBar().findChildren(QMenu):  # Alt+letter: one entry per letter in each menu
        letters = [a.text().split("&")[1][0].lower() for a in menu.actions() if "&" in a.text()]
        assert len(letters) == len(set(letters)), (menu.title(), letters)
    shortcuts = [k for k in keys.values() if k]
    assert len(shortcuts) == len(set(shortcuts)), "a key is bound twice"
    # the Live page's own F11 gives way to the menu's (two would be ambiguous)
    from PySide6.QtGui import QShortcut
    assert not any(s.isEnabled() for s in window.live.findChildren(QShortcut) if s.key() == QKeySequence("F11"))
    # menu entries that are not self-explanatory say what they do
    for action in (window.menu.open_action, window.backup_action, window.restore_action, window.menu.kiosk_action,
                   window.menu.advanced_action, window.menu.start_action, window.import_action):
        assert len(action.toolTip()) > len(action.text()) + 10, action.text()
    assert all(window.tabs.tabToolTip(i) for i in range(window.tabs.count()))


def test_actions_call_the_pages(window, monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(window.live, "start", lambda: calls.append("start"))
    monkeypatch.setattr(window.live, "stop", lambda: calls.append("stop"))
    monkeypatch.setattr(window.live, "toggle_kiosk", lambda: calls.append("kiosk"))
    monkeypatch.setattr(window.people, "open_enrol_wizard", lambda: calls.append("enrol"))
    monkeypatch.setattr(window.settings.database_group, "back_up", lambda: calls.append("backup"))
    monkeypatch.setattr(window.settings.database_group, "choose_and_restore", lambda: calls.append("restore"))
    monkeypatch.setattr(window, "close", lambda: calls.append("close"))
    window.show()
    window.tabs.setCurrentWidget(window.settings)
    window.menu.start_action.trigger()
    assert window.tabs.currentWidget() is window.live
    window.menu.stop_action.trigger()
    window.menu.kiosk_action.trigger()
    window.menu.enrol_action.trigger()
    assert window.tabs.currentWidget() is window.people
    window.backup_action.trigger()
    window.restore_action.trigger()
    window.menu.quit_action.trigger()
    assert calls == ["start", "stop", "kiosk", "enrol", "backup", "restore", "close"]
    window.tabs.setCurrentWidget(window.live)
    window.menu.find_action.trigger()
    assert window.tabs.currentWidget() is window.people
    window.menu.tab_actions["Attendance"].trigger()
    assert window.tabs.currentWidget() is window.attendance


def test_shortcut_keys_reach_the_actions(window, qtbot, monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(window.live, "start", lambda: calls.append("start"))
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.attendance
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert calls == ["start"] and window.tabs.currentWidget() is window.live


def test_start_is_disabled_while_recognition_runs(window) -> None:
    window.live.worker.running_changed.emit(True)
    assert not window.menu.start_action.isEnabled()
    window.live.worker.running_changed.emit(False)
    assert window.menu.start_action.isEnabled()


def test_open_database_switches_the_data_folder_or_says_how(window, ctx, qtbot, tmp_path: Path,
                                                            monkeypatch) -> None:
    folders: list[str] = []
    monkeypatch.setattr(window.settings.general_group, "apply_data_folder", lambda f: folders.append(f) or True)
    assert not window.menu.open_database_file(tmp_path / "elsewhere.db")
    qtbot.waitUntil(lambda: any(n.title == "Open database" for n in ctx.notifier.history), timeout=2000)
    assert "--db" in ctx.notifier.history[-1].text and folders == []
    assert window.menu.open_database_file(ctx.db_path) and folders == []  # the one in use already
    assert window.menu.open_database_file(tmp_path / "other" / "rollcall.db")
    assert folders == [str(tmp_path / "other")]  # the Settings tab's data folder does the switch


def test_help_dialogs(window, ctx) -> None:
    dialog = window.menu.show_shortcuts()
    rows = dict(dialog.rows())
    assert rows["Enrol new person"] == QKeySequence("Ctrl+E").toString(QKeySequence.SequenceFormat.NativeText)
    assert "Quit" in rows and "Kiosk view" in rows and rows["The Training tab"].endswith("5")
    dialog.close()
    about = window.menu.show_about()
    text = about.text()
    assert ctx.config.data_folder and ctx.config.data_folder in text
    assert str(ctx.db_path) in text and "rollcall.log" in text and "0.1." in text and "licen" in text.lower()
    assert about.sizeHint().width() <= LAPTOP[0] and about.sizeHint().height() <= LAPTOP[1] - DECORATIONS
    about.close()


def test_advanced_is_hidden_by_default_and_shown_on_toggle(window) -> None:
    assert not window.advanced_shown and not window.menu.advanced_action.isChecked()
    assert not window.go_to(window.training) and not window.menu.tab_actions["Training"].isEnabled()
    window.menu.advanced_action.trigger()
    assert window.advanced_shown and window.menu.tab_actions["Training"].isEnabled()
    window.menu.tab_actions["Training"].trigger()
    assert window.tabs.currentWidget() is window.training
    assert window.training_note.text() == TRAINING_NOTE and "fine-tuning" in TRAINING_NOTE
    window.menu.advanced_action.trigger()
    assert not window.advanced_shown and window.state.value("advanced") in (False, "false")


def test_window_fits_a_laptop_and_notices_never_resize_it(window, qtbot) -> None:
    width, height = LAPTOP
    room = (width, height - DECORATIONS)
    window.show_advanced(True)
    window.show()
    window.resize(*room)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == room, timeout=2000)
    for title, page in window.page_order():
        hint = window.tabs.widget(window.tabs.indexOf(page)).minimumSizeHint()
        assert hint.width() <= room[0] and hint.height() <= room[1], (title, hint)
    assert window.minimumSizeHint().height() <= room[1] - window.notifications.bar_height
    size, minimum = window.size(), window.minimumSize()
    for n in range(3):
        window.ctx.notifier.error(f"Problem {n}", "a long explanation of what went wrong " * 20)
    qtbot.waitUntil(lambda: len(window.notifications.notices) == 3, timeout=2000)
    qtbot.waitUntil(window.notifications.isVisible, timeout=2000)
    hint_with_three = window.minimumSizeHint()
    assert window.size() == size and window.minimumSize() == minimum
    qtbot.waitUntil(lambda: window.notifications.height() == window.notifications.bar_height, timeout=2000)
    assert window.notifications.text.startswith("Problem 2:")  # the newest on top
    assert window.notifications.more_button.text() == "+2 more"
    window.notifications.show_notice(Notice("warning", "One more", "x"))
    assert window.minimumSizeHint() == hint_with_three  # a fixed height, whatever the number
    window.notifications.dismiss_current()
    assert window.notifications.text.startswith("Problem 2:")
    window.notifications.show_earlier(2)
    assert window.notifications.text.startswith("Problem 0:")
    window.notifications.dismiss()
    assert not window.notifications.isVisible() and window.size() == size


def test_window_fits_a_laptop_at_125_percent_scaling(window) -> None:
    """At 125 % Windows scaling a 1366×768 screen is 1092×614 device-independent pixels for Qt: the window,
    Training shown and three notices up, still asks for less than that."""
    window.show_advanced(True)
    for n in range(3):
        window.ctx.notifier.error(f"Problem {n}", "a long explanation " * 30)
    width, height = (round(side / 1.25) for side in LAPTOP)
    hint = window.minimumSizeHint()
    assert hint.width() <= width and hint.height() <= height - DECORATIONS, hint
    for title, page in window.page_order():
        page_hint = window.tabs.widget(window.tabs.indexOf(page)).minimumSizeHint()
        assert page_hint.width() <= width and page_hint.height() <= height - DECORATIONS, (title, page_hint)


def test_the_first_run_guide_chooses_a_camera_on_the_live_tab(window, monkeypatch) -> None:
    listed = []
    monkeypatch.setattr(window.live.source_picker, "refresh", lambda: listed.append(True))
    window.show()
    window.go_to(window.people)
    assert window.people.table_stack.currentWidget() is window.people.guide  # nobody enrolled yet
    window.people.guide.camera_button.click()
    assert window.tabs.currentWidget() is window.live and listed == [True]
