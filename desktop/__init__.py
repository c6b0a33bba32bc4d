"""Rollcall's Qt desktop application. The only package that imports PySide6."""

import time as _time

# When the app's own code began to load (monotonic clock): "first frame shown after X s" counts from here.
STARTED_AT = _time.monotonic()
