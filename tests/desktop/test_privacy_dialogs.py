"""The privacy parts of the app: the review of kept unknown faces, the retention setting, and the admin
PIN (its gate before settings and on the kiosk, and the dialog that sets it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from core.attendance.recogniser import encode_jpeg
from core.gallery.faces import FACE_TEMPLATE
from core.vision.align import align_face
from core.vision.imageio import read_image
from desktop.admin_gate import PinDialog, admin_allows
from desktop.pages.attendance_page import AttendancePage
from desktop.pages.live_page import LivePage
from desktop.pages.settings_page import SettingsPage
from tests.conftest import shared_path
from tests.desktop.conftest import errors


def _keep(ctx, jpeg: bytes, when: str) -> int:
    ctx.service.attendance.record_unknown(None, jpeg, 0.2, "camera 1")
    row_id = ctx.db.execute("SELECT MAX(id) FROM unknown_sightings").fetchone()[0]
    with ctx.db.transaction() as conn:
        conn.execute("UPDATE unknown_sightings SET seen_at = ? WHERE id = ?", (when, row_id))
    return row_id


def _face_crop(ctx) -> bytes:
    image = read_image(shared_path("video", "hamilton_refs", "lin-manuel-miranda.png"))
    face = max(ctx.pipeline.detect(image), key=lambda d: d.width)
    return encode_jpeg(align_face(image, face.landmarks, FACE_TEMPLATE))


def test_the_review_lists_deletes_and_enrols_kept_faces(ctx, qtbot) -> None:
    face = _keep(ctx, _face_crop(ctx), "2099-01-01T09:00:00+00:00")
    noise = encode_jpeg(np.random.default_rng(0).integers(0, 255, (112, 112, 3), dtype=np.uint8))
    others = [_keep(ctx, noise, f"2099-01-0{d}T09:00:00+00:00") for d in (2, 3)]
    page = AttendancePage(ctx)
    qtbot.addWidget(page)
    dialog = page.show_unknown_faces()
    assert dialog.isVisible() and dialog.grid.count() == 3
    assert dialog.width() <= 1366 and dialog.height() <= 768
    assert dialog.grid.item(0).data(Qt.ItemDataRole.UserRole) == others[1]  # newest first
    assert "2099-01-03 09:00" in dialog.grid.item(0).text() and "no session" in dialog.grid.item(0).text()
    dialog.select_ids([others[1]])
    dialog.grid.setFocus()
    qtbot.keyClick(dialog.grid, Qt.Key.Key_Delete)  # the keyboard deletes the selection
    assert [f.id for f in ctx.service.unknown_faces()] == [others[0], face] and dialog.grid.count() == 2
    dialog.select_ids([face])
    assert dialog.enrol_button.isEnabled()
    task = dialog.enrol(face, "Lin-Manuel")
    qtbot.waitUntil(lambda: dialog.enrol_task is None, timeout=30000)
    assert task.error is None
    assert [p.name for p in ctx.service.gallery.people()] == ["Lin-Manuel"]
    assert dialog.grid.count() == 1  # the enrolled face left the list (attendance_changed)
    dialog.select_ids([others[0]])
    dialog.enrol(others[0], "Nobody")
    qtbot.waitUntil(lambda: dialog.enrol_task is None, timeout=30000)
    assert "no face found" in errors(ctx)[-1] and len(ctx.service.gallery.people()) == 1
    assert dialog.delete_all() == 1 and dialog.grid.count() == 0
    assert not dialog.delete_all_button.isEnabled()


def test_retention_is_a_setting_applied_when_it_changes(ctx, qtbot) -> None:
    old = _keep(ctx, b"old", "2000-01-01T00:00:00+00:00")
    assert ctx.config.unknown_retention_days == 30
    page = SettingsPage(ctx)
    qtbot.addWidget(page)
    group = page.general_group
    assert group.retention_spin.value() == 30
    assert group.apply_retention(0)
    assert [f.id for f in ctx.service.unknown_faces()] == [old]  # 0: kept until deleted
    assert json.loads(Path(ctx.config_file).read_text(encoding="utf-8"))["unknown_retention_days"] == 0
    assert group.apply_retention(7)
    assert ctx.service.unknown_faces() == [] and ctx.retention.purged == 1


def _answer(pins: list[str], messages: list[str]) -> None:
    """Type each PIN into the admin PIN dialog about to open; cancel it if the last one is refused."""

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, PinDialog):
            QTimer.singleShot(10, act)
            return
        for pin in pins:
            dialog.edit.setText(pin)
            if dialog.try_accept():
                return
            messages.append(dialog.message.text())
        dialog.reject()

    QTimer.singleShot(0, act)


def test_without_an_admin_pin_nothing_is_asked(ctx) -> None:
    assert admin_allows(None, ctx, "Anything")


def test_the_admin_pin_guards_settings(ctx, qtbot) -> None:
    ctx.service.set_admin_pin("2468")
    page = SettingsPage(ctx)
    qtbot.addWidget(page)
    messages: list[str] = []
    _answer(["1111"], messages)
    assert not page.apply_operator("mallory")  # a wrong PIN refuses
    assert messages == ["Wrong PIN"] and ctx.config.operator == "tester"
    assert page.operator_edit.text() == "tester"
    _answer(["1111", "2468"], messages)
    assert page.apply_operator("alice")  # the right one allows
    assert ctx.config.operator == "alice"


def test_the_admin_pin_is_set_changed_and_cleared_in_settings(ctx, qtbot) -> None:
    page = SettingsPage(ctx)
    qtbot.addWidget(page)
    group = page.general_group
    assert group.admin_pin_label.text() == "none"
    dialog = group.ask_admin_pin()
    dialog.new_edit.setText("2468")
    dialog.repeat_edit.setText("2469")
    assert not dialog.save() and "differ" in dialog.message.text()
    dialog.repeat_edit.setText("2468")
    assert dialog.save() and ctx.service.admin_pin_ok("2468") and not ctx.service.admin_pin_ok("1357")
    saved = Path(ctx.config_file)
    assert not saved.exists() or "2468" not in saved.read_text(encoding="utf-8")  # hashed, in the database
    assert group.admin_pin_label.text().startswith("set")
    dialog = group.ask_admin_pin()
    dialog.current_edit.setText("0000")
    assert not dialog.save() and "wrong" in dialog.message.text()
    dialog.current_edit.setText("2468")
    dialog.new_edit.setText("")
    dialog.repeat_edit.setText("")
    assert dialog.save() and not ctx.service.has_admin_pin


@pytest.mark.parametrize("kiosk_pin", ["", "1357"])
def test_the_admin_pin_also_leaves_the_kiosk(make_ctx, qtbot, kiosk_pin: str) -> None:
    ctx = make_ctx(kiosk_pin=kiosk_pin)
    ctx.service.set_admin_pin("2468")
    page = LivePage(ctx)
    qtbot.addWidget(page)
    kiosk = page.open_kiosk()
    qtbot.waitUntil(kiosk.isVisible)
    qtbot.keyClick(kiosk, Qt.Key.Key_Escape)
    assert kiosk.isVisible() and kiosk.pin_box.isVisible()  # asked even without a kiosk PIN
    assert not kiosk.try_leave("1111") and kiosk.isVisible()
    assert kiosk.try_leave("2468") and not kiosk.isVisible()
    if kiosk_pin:  # the kiosk PIN still works too
        kiosk = page.open_kiosk()
        qtbot.waitUntil(kiosk.isVisible)
        qtbot.keyClick(kiosk, Qt.Key.Key_Escape)
        assert kiosk.try_leave(kiosk_pin) and not kiosk.isVisible()
    page.shutdown()
