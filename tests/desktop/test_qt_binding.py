"""The installed Qt binding keeps Python's reference counts: a binding that drops a reference on every
call to a Qt method returning nothing (PySide6 6.12.0's abi3 wheel on Python 3.11 does) makes the app
abort after minutes of live view or training charts."""

from __future__ import annotations

import sys

from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QLabel, QProgressBar


def test_qt_calls_returning_nothing_keep_the_reference_count_of_none(qapp):
    path, label, bar = QPainterPath(), QLabel(), QProgressBar()
    before = sys.getrefcount(None)
    for i in range(200):
        path.lineTo(float(i), 1.0)
        label.setText(str(i))
        bar.setValue(i % 100)
    # 600 calls: a broken binding loses about 600; a stray reference held by the interpreter is not that
    assert abs(sys.getrefcount(None) - before) < 10
