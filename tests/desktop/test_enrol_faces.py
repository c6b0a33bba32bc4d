"""The enrolment wizard with a group photo (click a numbered face, or press its number, to use it), its
stale messages, the summary before saving, and its fixed size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from desktop.enrol_wizard import PREVIEW, SAMPLES, WIZARD_SIZE, EnrolWizard
from tests.conftest import shared_path
from tests.desktop.conftest import add_and_wait, errors, open_wizard


@pytest.fixture
def group_photo() -> Path:
    return shared_path("faces", "bbt", "group", "bbt2.jpg")


def group_wizard(ctx, qtbot, group_photo: Path) -> EnrolWizard:
    wizard = open_wizard(ctx, qtbot, "Penny")
    assert wizard.next() and wizard.page == SAMPLES
    add_and_wait(wizard, qtbot, group_photo)
    candidate = wizard.candidates.candidates[0]
    assert not candidate.usable and "faces found: choose which one" in candidate.status
    assert candidate.needs_choice and len(candidate.boxes) == len(candidate.verdict.detections) > 1
    assert wizard.samples_page.viewer.currentWidget() is wizard.face_picker  # offered at once
    assert "Click the face" in wizard.feedback_label.text()
    return wizard


def test_clicking_a_face_box_chooses_that_face(ctx, qtbot, group_photo: Path) -> None:
    wizard = group_wizard(ctx, qtbot, group_photo)
    picker = wizard.face_picker
    box = picker.box_rect(1)
    assert picker.rect().contains(box) and box.width() > 5
    with qtbot.waitSignal(picker.face_chosen) as chosen:
        QTest.mouseClick(picker, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, box.center())
    assert chosen.args == [1]
    candidate = wizard.candidates.candidates[0]
    assert candidate.face_index == 1 and candidate.label.endswith("(face 2)")
    qtbot.waitUntil(lambda: wizard.candidates.pending == 0, timeout=30_000)
    verdict = candidate.verdict
    assert verdict.crop is not None  # the chosen face went through the quality checks
    assert verdict.ok == candidate.usable and (verdict.ok or verdict.reason)
    direct = ctx.service.enroller().check_file(group_photo, face_index=1)  # the second face from the left
    assert np.array_equal(direct.crop, verdict.crop) and direct.ok == verdict.ok
    # a click outside every box chooses nothing
    QTest.mouseClick(picker, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, picker.rect().topLeft())
    assert candidate.face_index == 1 and wizard.candidates.pending == 0
    assert errors(ctx) == []


def test_a_number_key_chooses_a_face_and_it_is_saved(ctx, qtbot, group_photo: Path) -> None:
    wizard = group_wizard(ctx, qtbot, group_photo)
    candidate = wizard.candidates.candidates[0]
    wizard.activateWindow()
    wizard.samples_view.setFocus()
    usable_face = None
    for number in range(1, len(candidate.boxes) + 1):  # the first face that passes the checks
        qtbot.keyClick(wizard.samples_view, Qt.Key(Qt.Key.Key_0 + number))
        assert candidate.face_index == number - 1
        qtbot.waitUntil(lambda: wizard.candidates.pending == 0, timeout=30_000)
        if candidate.usable:
            usable_face = number
            break
        assert wizard.samples_page.viewer.currentWidget() is wizard.face_picker  # choose another
    assert usable_face is not None, "no face of the group photo passed the checks"
    assert "accepted" in wizard.feedback_label.text()
    assert wizard.next() and wizard.page == PREVIEW
    with qtbot.waitSignal(ctx.gallery_changed, timeout=30_000):
        assert wizard.finish()
    [person] = ctx.gallery.people()
    assert person.name == "Penny" and person.n_samples == 1


def test_a_stale_sample_error_is_cleared_when_samples_arrive(ctx, qtbot, refs: Path) -> None:
    wizard = open_wizard(ctx, qtbot, "")
    wizard.activateWindow()
    wizard.name_edit.setFocus()
    qtbot.keyClick(wizard.name_edit, Qt.Key.Key_Return)  # no name yet
    assert "name" in wizard.details_error.text()
    qtbot.keyClicks(wizard.name_edit, "Lin")
    assert wizard.details_error.text() == ""  # typing the name clears the complaint
    qtbot.keyClick(wizard.name_edit, Qt.Key.Key_Return)
    assert wizard.page == SAMPLES and wizard.status_label.text() == ""  # one Enter, one step
    assert not wizard.next() and "usable sample" in wizard.status_label.text()
    add_and_wait(wizard, qtbot, refs / "lin-manuel-miranda.png")
    assert wizard.status_label.text() == ""


def test_the_summary_shows_what_will_be_saved(ctx, qtbot, refs: Path) -> None:
    wizard = open_wizard(ctx, qtbot, "Lin-Manuel Miranda", external_id="LMM-7", group="Cast; Band")
    assert wizard.next()
    add_and_wait(wizard, qtbot, refs / "lin-manuel-miranda.png", refs / "alex-lacamoire.png")
    wizard.candidates.set_accepted(1, False)
    assert wizard.next() and wizard.page == PREVIEW
    summary = wizard.details_summary.text()
    for text in ("Lin-Manuel Miranda", "LMM-7", "Cast; Band", "Samples (1)", "lin-manuel-miranda.png"):
        assert text in summary, text
    assert "alex-lacamoire.png" not in summary  # rejected by the operator: not saved
    assert wizard.details_summary.isVisible()


def test_the_wizard_keeps_its_size_as_samples_are_added(ctx, qtbot, refs: Path, group_photo: Path) -> None:
    wizard = open_wizard(ctx, qtbot, "Lin")
    assert wizard.next()
    size = wizard.size()
    assert (size.width(), size.height()) == WIZARD_SIZE and size.width() <= 1366 and size.height() <= 700
    long_name = refs / "lin-manuel-miranda.png"
    add_and_wait(wizard, qtbot, *[long_name] * 12, group_photo)
    qtbot.wait(50)  # let the layouts settle (not an assertion on time)
    assert wizard.size() == size
    assert wizard.samples_view.verticalScrollBar().maximum() > 0  # the list scrolls instead
