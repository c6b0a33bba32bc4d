"""What the benchmark scripts share: writing their JSON result, and a main window to measure in."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path, data: object) -> Path:
    """DATA as indented JSON in PATH (its folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def print_result(result: object, path: Path | None) -> None:
    """Print RESULT as indented JSON, and write it to PATH too when one is given."""
    print(json.dumps(result, indent=2))
    if path:
        write_json(path, result)


def read_frames(path: Path, count: int) -> list:
    """The first `count` frames of a video (BGR arrays); exits with a message when none can be read."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"no frames read from {path}")
    return frames


def open_main_window(folder: Path, config=None):
    """(app, ctx, window): the app's main window at 1280x800, shown, with `config` (default settings when
    None) and its data in FOLDER; the notifier is ctx.notifier."""
    from PySide6.QtWidgets import QApplication

    from desktop.config import DesktopConfig
    from desktop.context import AppContext
    from desktop.main_window import MainWindow
    from desktop.notifier import Notifier
    from desktop.tasks import TaskRunner

    app = QApplication.instance() or QApplication([])
    notifier = Notifier()
    ctx = AppContext(config or DesktopConfig(data_folder=str(folder)), notifier, TaskRunner(notifier),
                     config_file=folder / "desktop.json")
    window = MainWindow(ctx)
    window.resize(1280, 800)
    window.show()
    return app, ctx, window
