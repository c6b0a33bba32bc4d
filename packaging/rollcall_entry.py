"""PyInstaller's entry script for both executables; it picks the program by the executable's name.

`rollcall-train[.exe]` runs the console trainer (packaging/rollcall_train.py), any other name the
windowed app (desktop.app:main, the same as `rollcall-desk`). One script for both lets the two
executables share one module archive on Linux: build.spec gives them byte-for-byte the same PKG, so
the trainer's `rollcall-train.pkg` is a link to `Rollcall.pkg` instead of a second 37 MB copy.
"""

import sys
from pathlib import Path

if Path(sys.executable).stem.lower() == "rollcall-train":
    from rollcall_train import main
else:
    from desktop.app import main

raise SystemExit(main())
