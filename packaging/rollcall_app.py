"""PyInstaller entry of the windowed app (Rollcall.exe): the same as `rollcall-desk`."""

from desktop.app import main

raise SystemExit(main())
