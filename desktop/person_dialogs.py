"""The People page's smaller pieces: the confirmation for deleting a person (what is lost: their samples,
and their attendance marks when the history is erased too), the Undo bar shown while a delete waits,
and the first-run guidance shown while nobody is enrolled. Editing a person is
desktop.people.edit_person. Dialogs open with `open()`; answers arrive by signal, so nothing blocks the
window or a test."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget,
)

from core.gallery.store import Person

UNDO_SECONDS = 10  # how long a deleted person can be brought back


def delete_text(person: Person, n_marks: int, erase_history: bool) -> str:
    """What deleting `person` loses, in words."""
    marks = (f"their {n_marks} attendance mark(s) are erased too" if erase_history
             else f"their {n_marks} attendance mark(s) are kept, with their name")
    if not n_marks:
        marks = "they have no attendance marks"
    return (f"Delete <b>{html.escape(person.name)}</b>? Their {person.n_samples} face sample(s) are removed "
            f"and they will no longer be recognised; {marks}. You can undo this for {UNDO_SECONDS} seconds.")


class DeletePersonDialog(QDialog):
    confirmed = Signal(int, bool)  # person id, erase their attendance history too

    def __init__(self, person: Person, n_marks: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.person, self.n_marks = person, n_marks
        self.person_id = person.id
        self.setWindowTitle("Delete person")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.erase_history = QCheckBox("Also &erase their attendance history")
        self.erase_history.setToolTip("Unticked, past attendance marks keep their name.")
        self.erase_history.setEnabled(n_marks > 0)
        self.erase_history.toggled.connect(self._explain)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.delete_button = buttons.addButton("&Delete", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.delete_button.clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.erase_history)
        layout.addWidget(buttons)
        self._explain()
        self.accepted.connect(lambda: self.confirmed.emit(self.person_id, self.erase_history.isChecked()))

    def _explain(self) -> None:
        self.text.setText(delete_text(self.person, self.n_marks, self.erase_history.isChecked()))


class UndoBar(QFrame):
    """'Deleted X. [Undo]' while the delete waits; hidden otherwise."""

    undo = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("UndoBar { background: #fff4ce; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.undo_button = QPushButton("&Undo")
        self.undo_button.setToolTip("Bring back what was just deleted")
        self.undo_button.clicked.connect(self.undo)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.undo_button)
        self.hide()

    def offer(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class FirstRunGuide(QWidget):
    """Shown instead of the empty People table: what to do first, with buttons for it."""

    enrol = Signal()
    import_list = Signal()
    choose_camera = Signal()  # the main window goes to Live and lists the cameras

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>Nobody is enrolled yet</h2>")
        intro = QLabel("Rollcall recognises the people you enrol. Enrol them one by one with a few photos or "
                       "camera captures each, or import a class list first and add the photos afterwards.")
        intro.setWordWrap(True)
        self.enrol_button = QPushButton("&Enrol people…")
        self.import_button = QPushButton("&Import a class list… (Ctrl+I)")
        self.enrol_button.setToolTip("Add people one by one: details, then photos or camera captures")
        self.import_button.setToolTip("Add everyone from a spreadsheet of names (Excel or CSV); photos later")
        self.camera_button = QPushButton("Choose a &camera…")
        self.camera_button.setToolTip("Go to the Live tab and list the cameras connected to this computer")
        self.enrol_button.clicked.connect(self.enrol)
        self.import_button.clicked.connect(self.import_list)
        self.camera_button.clicked.connect(self.choose_camera)
        self.checklist = QLabel("<b>Getting started</b><ol>"
                                "<li>Enrol people (this tab).</li>"
                                "<li>Choose a camera (Live tab, Source).</li>"
                                "<li>Start a session (Live tab) and let Rollcall mark who is there.</li></ol>")
        self.checklist.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.enrol_button)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.camera_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(buttons)
        layout.addWidget(self.checklist)
        layout.addStretch(2)
        for label in (title, intro, self.checklist):
            label.setAlignment(Qt.AlignmentFlag.AlignLeft)
