"""The register's screens for desktop.screenshots: a class list imported, a folder enrolled, the live
register and the kiosk during a run of the clip, the end-of-session summary, the register table and
the People page's dialogs. Every face shown is cut from the clip; the other people on the list have no
photo (they are names only)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

CAST = "Cast"
LISTED = [  # (name, External ID, groups, photos): invented people who are on the list only
    ("Jordan Ellis", "C-103", CAST, ""),
    ("Priya Natarajan", "C-104", f"{CAST}; Band", ""),
    ("Sam O'Neill", "C-105", CAST, "photos/sam"),  # a folder that is not there: imported with a warning
    ("Mei Chen", "C-106", CAST, ""),
    ("Tom Baker", "C-104", CAST, ""),  # the External ID of another row: skipped
]
IDS = {"Lin-Manuel Miranda": "C-101", "Alex Lacamoire": "C-102"}


def write_class_list(folder: Path) -> Path:
    path = folder / "cast list.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["Name", "External ID", "Groups", "Photos", "Notes"])
        out.writerow(["Lin-Manuel Miranda", IDS["Lin-Manuel Miranda"], CAST, "", "lead"])
        out.writerow(["Alex Lacamoire", IDS["Alex Lacamoire"], f"{CAST}; Band", "", "music director"])
        for name, external_id, groups, photos in LISTED:
            out.writerow([name, external_id, groups, photos, ""])
    return path


def crop_around(frame: np.ndarray, box) -> np.ndarray:  # noqa: ANN001
    """A clip frame cut around one face, wide enough for the enrolment check to find it alone."""
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = x1 - x0, y1 - y0
    return frame[max(0, y0 - h):y1 + h, max(0, x0 - w):x1 + w].copy()


def take(window, ctx, folder: Path, crops: dict[str, list[np.ndarray]],
         shot: Callable[[str], None], grab: Callable[[object, str], None],
         wait: Callable[..., None]):  # noqa: ANN201
    """Import, folder enrolment, the People dialogs, then a session of the group: kiosk and live."""
    people = window.people
    window.tabs.setCurrentWidget(people)

    dialog = people.register.open_import_dialog(str(write_class_list(folder)))
    wait(lambda: dialog.preview is not None, "the class list preview")
    grab(dialog, "import_class_list")
    dialog.start()
    wait(lambda: not dialog.busy, "the class list import")
    dialog.accept()

    root = folder / "by id"
    for name, images in crops.items():
        (root / IDS[name]).mkdir(parents=True, exist_ok=True)
        for k, image in enumerate(images):
            cv2.imwrite(str(root / IDS[name] / f"clip {k}.png"), image)
    dialog = people.register.open_folder_dialog(str(root), group=CAST)
    wait(lambda: dialog.preview is not None, "the folder plan")
    dialog.start()
    wait(lambda: not dialog.busy, "the folder enrolment")
    grab(dialog, "enrol_folder")
    dialog.accept()

    people.select_person(ctx.service.gallery.with_external_id("C-104").id)
    edit = people.edit_selected()
    grab(edit, "edit_person")
    edit.reject()
    groups = people.register.open_groups_dialog()
    grab(groups, "groups")
    groups.reject()

    # A session of the group, started 12 minutes ago with lateness after 10: the clip's people come late.
    start = (dt.datetime.now().astimezone() - dt.timedelta(minutes=12)).isoformat(timespec="seconds")
    session = ctx.service.start_session("Rehearsal", CAST, scheduled_start=start, late_after_min=10)
    ctx.service.excuse(session.id, ctx.service.gallery.with_external_id("C-106").id, operator="Front desk",
                       reason="rehearsing with the understudies")
    live = window.live
    window.tabs.setCurrentWidget(live)
    live.start_session("Rehearsal")
    kiosk = live.open_kiosk()
    kiosk.showNormal()  # offscreen, "full screen" is an 800×800 screen: show it at a laptop monitor's size
    kiosk.resize(1366, 768)
    live.start()
    wait(lambda: live.marks_model.rowCount() == 2 and live.frames_shown >= 4, "both marks")
    grab(kiosk, "kiosk")
    kiosk.leave()
    live.stop()
    wait(lambda: not live.running, "the live view to stop")
    shot("live")
    return session


def finish(window, session, shot: Callable[[str], None], grab: Callable[[object, str], None]) -> None:
    """End the session: its summary, then its register on the Attendance tab."""
    window.tabs.setCurrentWidget(window.live)
    summary = window.live.end_session()
    grab(summary, "session_summary")
    summary.reject()
    window.tabs.setCurrentWidget(window.attendance)
    window.attendance.select_session(session.id)
    window.attendance.right_tabs.setCurrentWidget(window.attendance.register_pane)
    shot("attendance_register")
