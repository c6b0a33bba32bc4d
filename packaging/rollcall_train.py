"""PyInstaller entry of the console trainer (rollcall-train.exe): the same as `rollcall-train`.

Started by the windowed app on Windows, a console program gets a console window of its own unless the
app could ask for none; the app then sets ROLLCALL_HIDE_CONSOLE=1 and the trainer lets go of that
console at once (its stdin/stdout/stderr are the app's pipes, not the console, so they keep working).
"""

import os
import sys

if sys.platform == "win32" and os.environ.pop("ROLLCALL_HIDE_CONSOLE", "") == "1":
    import ctypes

    ctypes.windll.kernel32.FreeConsole()

from trainer.__main__ import main

raise SystemExit(main())
