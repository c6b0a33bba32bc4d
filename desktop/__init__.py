"""Rollcall's Qt desktop application. The only package that imports PySide6."""

import time as _time

# When the app's own code began to load (monotonic clock): "first frame shown after X s" counts from here.
STARTED_AT = _time.monotonic()

from core import threads as _threads  # noqa: E402

# Before anything loads torch: OpenMP reads its wait policy once, when torch loads it (core/threads.py).
_threads.prefer_passive_waiting()
