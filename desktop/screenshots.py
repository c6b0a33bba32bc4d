"""Render every main screen of the app to PNG, with real data, for the README and for looking at.

    QT_QPA_PLATFORM=offscreen python -m desktop.screenshots --clip ../shared/video/hamilton_clip.mp4 \
        --refs ../shared/video/hamilton_refs --out docs/screenshots [--training-run RUN_DIR] \
        [--finetune-run RUN_DIR]

Only frames of the clip are shown. The reference photos are used to tell who is who in the clip
(they label faces in a throw-away gallery) and never appear on screen: the people shown are
enrolled from faces cut out of clip frames. The database lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

CLIP_PEOPLE = {"Lin-Manuel Miranda": "lin-manuel-miranda.png", "Alex Lacamoire": "alex-lacamoire.png"}
ENROL_FRAMES = {"Lin-Manuel Miranda": (96, 150, 186), "Alex Lacamoire": (0, 6)}  # where each is in the clip
WIZARD_FRAMES = (240, 252)  # frames with several faces: the wizard asks which one
SIZE = (1366, 768)  # a common Windows laptop screen


def replay_run(page, run_dir: Path) -> None:
    """Feed a run's recorded events to the Training tab, as its trainer child would have, then repaint."""
    from trainer.events import parse_event

    page.out_edit.setText(str(run_dir))
    page.last_run_dir = run_dir
    for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines():
        page._on_event(parse_event(line))
    page._refresh()


def read_frames(clip: Path, indices: set[int]) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames, i = {}, 0
    while len(frames) < len(indices):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{clip} ended before frame {max(indices)}")
        if i in indices:
            frames[i] = frame
        i += 1
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--refs", type=Path, required=True, help="folder with the two reference photos")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--training-run", type=Path,
                        help="a finished train-dsr run folder: the Training tab shows its events.jsonl as it "
                             "would have shown the run live")
    parser.add_argument("--finetune-run", type=Path,
                        help="a finished finetune run folder: a second Training shot (training_finetune.png) with "
                             "its curves and its comparison with the active model on this gallery")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from PySide6.QtWidgets import QApplication

    from core.benchmarks.identification import PERMISSIVE
    from core.gallery.matching import TemplateIndex
    from core.service import Rollcall
    from desktop.config import DesktopConfig
    from desktop.context import AppContext
    from desktop import screenshots_register as register_shots
    from desktop.main_window import MainWindow
    from desktop.notifier import Notifier
    from desktop.tasks import TaskRunner

    app = QApplication.instance() or QApplication([])

    def wait(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.01)
        for _ in range(5):
            app.processEvents()

    def settle(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="rollcall-shots-"))
    config = DesktopConfig(source=str(args.clip), file_pace="every_frame", data_folder=str(folder),
                           operator="Front desk")
    notifier = Notifier()
    ctx = AppContext(config, notifier, TaskRunner(notifier), config_file=folder / "desktop.json")
    window = MainWindow(ctx)
    window.resize(*SIZE)
    window.show()
    load = ctx.load_engine()
    wait(lambda: load.settled, "the models")

    # Who is who in the clip, from the reference photos, in a gallery that is thrown away.
    pipeline = ctx.pipeline
    frames = read_frames(args.clip, {i for f in ENROL_FRAMES.values() for i in f} | set(WIZARD_FRAMES))
    with Rollcall.open(":memory:") as labeller:
        labeller.install_pipeline(pipeline)
        for name, photo in CLIP_PEOPLE.items():
            labeller.enrol(name, [labeller.enroller().check_file(args.refs / photo)])
        labels = TemplateIndex(*labeller.gallery.templates(labeller.gallery.active_model().id))

    enroller = ctx.service.enroller(PERMISSIVE)  # Alex is small and blurry in the clip
    crops: dict[str, list[np.ndarray]] = {}
    for name, indices in ENROL_FRAMES.items():
        verdicts = []
        for i in indices:
            detections = sorted(pipeline.detect(frames[i]), key=lambda d: d.box[0])
            faces, _ = pipeline.embed_detections(frames[i], detections)
            who = labels.identify(np.stack([f.embedding for f in faces]), threshold=-1.0)
            index = next(k for k, m in enumerate(who) if m.name == name)
            if i == indices[0]:  # the first frame enrols; the others go to the folder enrolment
                verdicts.append(enroller.check(frames[i], f"hamilton_clip.mp4 frame {i}", face_index=index))
            else:
                crops.setdefault(name, []).append(register_shots.crop_around(frames[i], detections[index].box))
        ctx.service.enrol(name, verdicts)  # the tables follow (the service reports to the context)

    def grab(widget, name: str) -> None:  # noqa: ANN001
        settle(0.5)
        path = args.out / f"{name}.png"
        widget.grab().save(str(path))
        print(f"wrote {path}")

    def shot(name: str) -> None:
        grab(window, name)

    # The register: a class list, a folder of faces cut from the clip, then a session of the group
    # recognising the clip's opening frames (the kiosk and the Live tab).
    session = register_shots.take(window, ctx, folder, crops, shot, grab, wait)

    # People: the two enrolled from the clip, one selected with its samples.
    window.tabs.setCurrentWidget(window.people)
    window.people.select_person(ctx.service.gallery.find_people("Lin-Manuel Miranda")[0].id)
    shot("people")

    # Enrolment wizard: clip frames with several faces (the wizard asks which face) and a face of an
    # enrolled person (the duplicate warning).
    wizard = window.people.open_enrol_wizard()
    wizard.name_edit.setText("New visitor")
    wizard.next()
    paths = []
    for i in (*WIZARD_FRAMES, 150):
        frame = frames[i] if i in frames else read_frames(args.clip, {i})[i]
        path = folder / f"frame_{i}.png"
        cv2.imwrite(str(path), frame)
        paths.append(path)
    wizard.add_photos(paths)
    wait(lambda: wizard.candidates.pending == 0, "the sample checks")
    wizard.next()
    wait(lambda: wizard.duplicates_checked, "the duplicate check")
    settle(0.5)
    wizard.grab().save(str(args.out / "enrol_wizard.png"))
    print(f"wrote {args.out / 'enrol_wizard.png'}")
    wizard.reject()

    # Attendance: the session's marks, one added by hand, evidence of the selected one.
    window.tabs.setCurrentWidget(window.attendance)
    alex = ctx.service.gallery.find_people("Alex Lacamoire")[0]
    ctx.service.unmark(session.id, alex.id, operator="Front desk", reason="demo: re-marked by hand")
    window.attendance.manual_mark(alex.id, "Arrived late; signed the sheet at the door", session_id=session.id)
    window.attendance.set_filters(session_id=session.id)
    window.attendance.select_mark(ctx.service.attendance.marks(session.id)[0].id)
    window.attendance.right_tabs.setCurrentWidget(window.attendance.marks_pane)
    shot("attendance")
    register_shots.finish(window, session, shot, grab)

    # Settings: the calibration curve of this small gallery.
    window.tabs.setCurrentWidget(window.settings)
    task = window.settings.calibrate()
    wait(lambda: task.settled, "the calibration")
    shot("settings")

    window.show_advanced(True)  # the Training tab is behind View > Advanced
    window.tabs.setCurrentWidget(window.training)
    if args.training_run:
        replay_run(window.training, args.training_run)
    shot("training")
    if args.finetune_run:
        replay_run(window.training, args.finetune_run)
        task = window.training.review.compare()
        wait(lambda: task.settled, "the comparison with the active model")
        shot("training_finetune")
    errors = [f"{n.title}: {n.text}" for n in notifier.history if n.level == "error"]
    window.shutdown()  # closes without asking about the sessions left open
    window.close()
    if errors:
        raise SystemExit("errors while taking screenshots: " + "; ".join(errors))


if __name__ == "__main__":
    main()
