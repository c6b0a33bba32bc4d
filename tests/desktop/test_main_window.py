from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from desktop.main_window import MainWindow
from tests.conftest import REPO


def test_tabs_and_remembered_state(ctx, qtbot, tmp_path: Path) -> None:
    state = tmp_path / "window.ini"
    window = MainWindow(ctx, state_file=state)
    qtbot.addWidget(window)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Live", "People", "Attendance", "Settings"]  # Training waits behind View > Advanced
    window.show()
    window.resize(760, 560)
    qtbot.waitUntil(lambda: window.width() == 760, timeout=2000)
    window.menu.advanced_action.trigger()
    assert window.tabs.tabText(4) == "Training" and window.go_to(window.training)
    window.tabs.setCurrentIndex(2)
    window.save_state()
    again = MainWindow(ctx, state_file=state)
    qtbot.addWidget(again)
    again.show()
    assert again.tabs.currentIndex() == 2 and again.size().width() == 760
    assert again.advanced_shown and again.menu.advanced_action.isChecked()
    window.live.shutdown()
    again.live.shutdown()


def test_errors_show_in_the_bar_and_info_in_the_status_bar(ctx, qtbot) -> None:
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    ctx.notifier.error("Source", "Cannot open the camera camera 3.")
    ctx.notifier.info("Marked", "Ada (0.95)")
    qtbot.waitUntil(lambda: window.notifications.isVisible(), timeout=2000)
    assert window.notifications.text == "Source: Cannot open the camera camera 3."
    assert window.statusBar().currentMessage() == "Marked: Ada (0.95)"
    window.notifications.dismiss()
    assert not window.notifications.isVisible()
    assert "mtcnn + dlib" in window.engine_label.text()
    window.live.shutdown()


def test_help_runs_without_a_display() -> None:
    out = subprocess.run([sys.executable, "-m", "desktop", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--source" in out.stdout and "--session" in out.stdout


MAIN_PROBE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from desktop.app import main
from desktop.main_window import MainWindow

def probe():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
    print("BAR:", window.notifications.text)
    print("DB:", window.ctx.db_path)
    QApplication.instance().quit()

app = QApplication(sys.argv[:1])
QTimer.singleShot(500, probe)
sys.exit(main(sys.argv[1:]))
"""


def test_main_starts_with_a_broken_settings_file_and_says_so(tmp_path: Path) -> None:
    """The real entry point, in its own process (it runs and quits the application's event loop)."""
    (tmp_path / "desktop.json").write_text(json.dumps({"sorce": "1"}))
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", MAIN_PROBE, "--db", str(tmp_path / "other.db")], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "unknown setting(s) sorce" in out.stdout and "default settings" in out.stdout
    assert f"DB: {tmp_path / 'other.db'}" in out.stdout and (tmp_path / "other.db").exists()
    assert json.loads((tmp_path / "desktop.json").read_text()) == {"sorce": "1"}  # not overwritten
    assert (tmp_path / "window.ini").exists()  # the window's state was saved on the way out
