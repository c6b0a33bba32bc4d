"""The enrolment wizard end to end: details, photo and camera samples checked in the background,
the preview of aligned crops with accept / reject and the duplicate warning, and the save."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from desktop.enrol_wizard import DETAILS, PREVIEW, SAMPLES, EnrolWizard
from tests.conftest import shared_path
from tests.desktop.conftest import add_and_wait, enrol_photos, errors, open_wizard


def rows(wizard: EnrolWizard) -> list[str]:
    model = wizard.candidates
    return [model.index(r).data() for r in range(model.rowCount())]


def finish_and_wait(wizard: EnrolWizard, qtbot) -> None:
    with qtbot.waitSignal(wizard.ctx.gallery_changed, timeout=20_000):
        assert wizard.finish()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=5000)


def test_enrol_two_people_from_photos(ctx, qtbot, refs: Path) -> None:
    wizard = open_wizard(ctx, qtbot, "", external_id="LMM-1", group="Cast", notes="composer")
    assert not wizard.next() and wizard.page == DETAILS  # the name is required
    assert "name" in wizard.details_error.text()
    wizard.name_edit.setText("  Lin-Manuel Miranda ")
    assert wizard.next() and wizard.page == SAMPLES
    assert not wizard.next() and "usable sample" in wizard.status_label.text()  # no samples yet

    add_and_wait(wizard, qtbot, refs / "lin-manuel-miranda.png")
    assert rows(wizard) == ["lin-manuel-miranda.png\naccepted"]
    assert wizard.next() and wizard.page == PREVIEW
    candidate = wizard.candidates.candidates[0]
    assert candidate.verdict.ok and candidate.verdict.crop is not None  # the aligned crop is shown
    icon = wizard.candidates.index(0).data(Qt.ItemDataRole.DecorationRole)
    assert icon is not None and not icon.isNull()
    assert wizard.candidates.index(0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    qtbot.waitUntil(lambda: wizard.duplicates_checked, timeout=10_000)
    assert wizard.duplicates == [] and wizard.duplicate_label.text() == ""  # an empty gallery
    assert "1 sample(s) accepted" in wizard.summary_label.text() and "3–7" in wizard.summary_label.text()
    finish_and_wait(wizard, qtbot)

    [lin] = ctx.gallery.people()
    assert (lin.name, lin.external_id, lin.groups, lin.notes, lin.n_samples) == \
        ("Lin-Manuel Miranda", "LMM-1", ("Cast",), "composer", 1)
    assert wizard.person.id == lin.id

    wizard = open_wizard(ctx, qtbot, "Alex Lacamoire")
    assert wizard.next()
    add_and_wait(wizard, qtbot, refs / "alex-lacamoire.png")
    assert wizard.next()
    qtbot.waitUntil(lambda: wizard.duplicates_checked, timeout=10_000)
    assert wizard.duplicates == []  # a different person than Lin
    finish_and_wait(wizard, qtbot)
    assert sorted((p.name, p.n_samples) for p in ctx.gallery.people()) == [("Alex Lacamoire", 1), ("Lin-Manuel Miranda", 1)]
    assert errors(ctx) == []


def test_two_faces_and_a_corrupt_file_are_rejected_with_their_reason(ctx, qtbot, refs: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    two = shared_path("faces", "misc", "two_people.jpg")
    wizard = open_wizard(ctx, qtbot, "Alex Lacamoire")
    assert wizard.next()
    add_and_wait(wizard, qtbot, two, corrupt, refs / "alex-lacamoire.png")

    shown = rows(wizard)
    assert shown[0] == "two_people.jpg\n2 faces found: choose which one"
    assert shown[1].startswith("broken.jpg\n") and "broken.jpg" in shown[1].split("\n", 1)[1]  # names the file
    assert "corrupt" in shown[1] or "not an image" in shown[1]
    assert shown[2] == "alex-lacamoire.png\naccepted"
    model = wizard.candidates
    assert model.index(0).data(Qt.ItemDataRole.CheckStateRole) is None  # rejected ones cannot be accepted
    boxed = model.index(0).data(Qt.ItemDataRole.DecorationRole)  # the photo with both faces boxed
    assert boxed is not None and not boxed.isNull() and model.candidates[1].preview is None
    assert not model.setData(model.index(1), Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    assert "1 sample(s) accepted, 2 not usable" in wizard.samples_count.text()

    assert wizard.next()
    finish_and_wait(wizard, qtbot)
    [alex] = ctx.gallery.people()
    assert alex.n_samples == 1
    assert [s.source for s in ctx.gallery.samples(alex.id)] == [str(refs / "alex-lacamoire.png")]


def test_a_wizard_with_only_unusable_photos_cannot_go_on(ctx, qtbot, tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    wizard = open_wizard(ctx, qtbot, "Nobody")
    assert wizard.next()
    add_and_wait(wizard, qtbot, empty)
    assert "empty" in rows(wizard)[0]
    assert not wizard.next() and wizard.page == SAMPLES
    wizard.reject()
    assert ctx.gallery.people() == []


def test_duplicate_warning_and_rejecting_crops_in_the_preview(ctx, qtbot, refs: Path) -> None:
    enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    wizard = open_wizard(ctx, qtbot, "Lin again", external_id="X-2")
    assert wizard.next()
    add_and_wait(wizard, qtbot, refs / "lin-manuel-miranda.png", refs / "alex-lacamoire.png")
    model = wizard.candidates
    model.setData(model.index(1), Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)  # drop Alex's photo
    assert rows(wizard)[1] == "alex-lacamoire.png\nrejected by you"
    assert wizard.next()
    qtbot.waitUntil(lambda: wizard.duplicates_checked, timeout=10_000)
    assert [w.person.name for w in wizard.duplicates] == ["Lin-Manuel Miranda"]
    text = wizard.duplicate_label.text()
    assert text.startswith("Looks like Lin-Manuel Miranda (score ") and f"{wizard.duplicates[0].score:.2f}" in text

    model.set_accepted(0, False)  # nothing accepted: nothing to save
    assert not wizard.finish_button.isEnabled() and not wizard.finish()
    qtbot.waitUntil(lambda: wizard.duplicates_checked, timeout=10_000)
    assert wizard.duplicate_label.text() == ""
    wizard.back()
    assert wizard.page == SAMPLES
    wizard.reject()
    assert [p.name for p in ctx.gallery.people()] == ["Lin-Manuel Miranda"]


def test_a_taken_external_id_is_refused_on_the_details_page(ctx, qtbot, refs: Path) -> None:
    pid = enrol_photos(ctx, "Lin-Manuel Miranda", refs / "lin-manuel-miranda.png")
    ctx.gallery.update_person(pid, external_id="S-1")
    wizard = open_wizard(ctx, qtbot, "Someone", external_id="S-1")
    assert not wizard.next() and "S-1" in wizard.details_error.text() and "Lin-Manuel Miranda" in wizard.details_error.text()


def test_capture_from_a_video_file_standing_in_for_the_camera(make_ctx, qtbot) -> None:
    clip = shared_path("video", "hamilton_clip.mp4")
    ctx = make_ctx(source=str(clip))
    wizard = open_wizard(ctx, qtbot, "From the camera")
    assert wizard.next()
    assert wizard.capture() is None and "start the camera" in wizard.feedback_label.text()
    wizard.camera_button.click()
    qtbot.waitUntil(lambda: wizard.feed.frames_seen > 0 and wizard.live_checks > 0, timeout=15_000)
    assert wizard.feed.running and wizard.camera_button.text() == "Stop camera"
    assert wizard.preview_label.pixmap() is not None and not wizard.preview_label.pixmap().isNull()
    feedback = wizard.feedback_label.text()  # the newest frame's verdict, in words
    assert feedback.startswith("Good:") or feedback.startswith("Not usable: ")

    wizard.activateWindow()
    wizard.samples_view.setFocus()
    qtbot.keyClick(wizard.samples_view, Qt.Key.Key_Space)  # Space captures the newest frame
    assert wizard.candidates.rowCount() == 1
    qtbot.waitUntil(lambda: wizard.candidates.pending == 0, timeout=15_000)
    candidate = wizard.candidates.candidates[0]
    assert candidate.source.startswith(f"{clip} frame ")
    verdict = candidate.verdict
    assert verdict.ok and verdict.crop is not None or (not verdict.ok and verdict.reason)

    wizard.reject()  # closing stops the grabber thread
    assert not wizard.feed.running
    assert errors(ctx) == []


def test_a_capture_is_enrolled(make_ctx, qtbot) -> None:
    """Frames of the clip where Lin faces the camera alone give a usable sample that is saved."""
    clip = shared_path("video", "hamilton_clip.mp4")
    ctx = make_ctx(source=str(clip))
    wizard = open_wizard(ctx, qtbot, "Lin-Manuel Miranda")
    assert wizard.next()
    wizard.start_camera()
    # capture until one frame is usable (about a third of the clip is)
    def usable_capture() -> bool:
        if wizard.candidates.pending == 0 and not wizard.candidates.usable and wizard.feed.latest is not None:
            wizard.capture()
        return wizard.candidates.usable > 0
    qtbot.waitUntil(usable_capture, timeout=30_000)
    qtbot.waitUntil(lambda: wizard.candidates.pending == 0, timeout=10_000)
    assert wizard.next()
    assert not wizard.feed.running  # leaving the samples page stops the camera
    finish_and_wait(wizard, qtbot)
    [person] = ctx.gallery.people()
    assert person.n_samples == wizard.candidates.usable >= 1


def test_a_camera_that_cannot_be_opened_is_reported(make_ctx, qtbot, tmp_path: Path) -> None:
    ctx = make_ctx(source=str(tmp_path / "missing.mp4"))
    wizard = open_wizard(ctx, qtbot, "Someone")
    assert wizard.next()
    wizard.start_camera()
    qtbot.waitUntil(lambda: bool(errors(ctx)), timeout=10_000)
    assert "missing.mp4" in errors(ctx)[0] and "does not exist" in errors(ctx)[0]
    assert "does not exist" in wizard.preview_label.text()
    qtbot.waitUntil(lambda: not wizard.feed.running, timeout=5000)
    assert wizard.capture() is None
    wizard.reject()
