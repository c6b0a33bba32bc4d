"""File dialogs that never open the files they list.

Qt's own file dialog asks the MIME database what each listed file is, and that
reads the first bytes of every file. On Linux, closing any descriptor of a file
drops every POSIX lock the process holds on it, and SQLite locks with POSIX
locks: a dialog shown over the folder of rollcall.db silently dropped the
app's database locks, after which another process could delete the WAL under
it. These dialogs name files by their suffix alone. On Windows, locks belong to
the handle, so the native dialog is kept there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QFileInfo
from PySide6.QtGui import QAbstractFileIconProvider, QIcon
from PySide6.QtWidgets import QFileDialog, QWidget


class SuffixIconProvider(QAbstractFileIconProvider):
    """Icons and type names from the file name alone (never the file's content)."""

    def icon(self, what: QFileInfo | QAbstractFileIconProvider.IconType) -> QIcon:  # noqa: D102
        if isinstance(what, QFileInfo):
            kind = QAbstractFileIconProvider.IconType.Folder if what.isDir() else QAbstractFileIconProvider.IconType.File
            return super().icon(kind)
        return super().icon(what)

    def type(self, info: QFileInfo) -> str:  # noqa: D102
        if info.isDir():
            return "Folder"
        suffix = info.suffix()
        return f"{suffix.upper()} file" if suffix else "File"


_PROVIDER: SuffixIconProvider | None = None


def _provider() -> SuffixIconProvider:
    global _PROVIDER
    if _PROVIDER is None:
        _PROVIDER = SuffixIconProvider()
    return _PROVIDER


def file_dialog(parent: QWidget | None, title: str, folder: str = "", name_filter: str = "") -> QFileDialog:
    """A QFileDialog that is safe over the database's folder (see the module docstring)."""
    dialog = QFileDialog(parent, title, folder, name_filter)
    if sys.platform != "win32":
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setOption(QFileDialog.Option.DontUseCustomDirectoryIcons, True)
        dialog.setIconProvider(_provider())
    return dialog


def _run(dialog: QFileDialog) -> list[str]:
    return dialog.selectedFiles() if dialog.exec() == QFileDialog.DialogCode.Accepted else []


def open_file(parent: QWidget | None, title: str, folder: str = "", name_filter: str = "") -> str:
    """One existing file, or "" when cancelled."""
    dialog = file_dialog(parent, title, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    chosen = _run(dialog)
    return chosen[0] if chosen else ""


def open_files(parent: QWidget | None, title: str, folder: str = "", name_filter: str = "") -> list[str]:
    """Existing files (several may be chosen), or [] when cancelled."""
    dialog = file_dialog(parent, title, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
    return _run(dialog)


def save_file(parent: QWidget | None, title: str, suggested: str = "", name_filter: str = "") -> tuple[str, str]:
    """(path, chosen name filter) for a file to write, or ("", "") when cancelled."""
    dialog = file_dialog(parent, title, suggested, name_filter)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    chosen = _run(dialog)
    return (chosen[0], dialog.selectedNameFilter()) if chosen else ("", "")


def open_or_new_file(parent: QWidget | None, title: str, folder: str = "", name_filter: str = "") -> str:
    """An existing file or the name of a new one (nothing is overwritten or created), or ""."""
    dialog = file_dialog(parent, title, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    chosen = _run(dialog)
    return chosen[0] if chosen else ""


def open_folder(parent: QWidget | None, title: str, folder: str = "") -> str:
    """An existing folder, or "" when cancelled."""
    dialog = file_dialog(parent, title, folder)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    chosen = _run(dialog)
    return chosen[0] if chosen else ""


def open_files_later(parent: QWidget | None, title: str, on_chosen: Callable[[list[str]], None],
                     folder: str = "", name_filter: str = "") -> QFileDialog:
    """Non-modal: `on_chosen(paths)` once files are chosen; the dialog deletes itself when closed."""
    dialog = file_dialog(parent, title, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
    dialog.filesSelected.connect(on_chosen)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
