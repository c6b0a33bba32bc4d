"""Cyclic garbage is collected on the GUI thread only.

Python's collector runs on whichever thread happens to allocate when a threshold is crossed. If that is
a worker and the garbage holds Qt objects (a closed dialog and the lambdas connected to it), Qt deletes
widgets off the GUI thread and the process crashes. So automatic collection is switched off and a timer
on the GUI thread collects instead, generation by generation, as the thresholds would have.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        counts = gc.get_count()
        if counts[0] > self.thresholds[0]:
            generation = 2 if counts[2] > self.thresholds[2] else 1 if counts[1] > self.thresholds[1] else 0
            gc.collect(generation)

    def stop(self) -> None:
        """Give collection back to Python (e.g. when the application quits)."""
        self.timer.stop()
        gc.enable()


_installed: GuiThreadCollector | None = None


def collect_on_gui_thread(parent: QObject) -> GuiThreadCollector:
    """Install the collector once per process (call on the GUI thread, after the QApplication exists)."""
    global _installed
    if _installed is None:
        _installed = GuiThreadCollector(parent=parent)
    return _installed
