"""How long the GUI event loop stalls while the app works in the background: enrolment checks in the
wizard, a model switch that re-embeds the gallery, and a calibration. Measured in the real main
window with a 5 ms timer on the GUI thread (a stall is how much later than due it fired).

    QT_QPA_PLATFORM=offscreen python -m bench.gui_stalls --faces ../shared/faces/orl --people 20 \
        --model ../shared/models/edgeface_xs_q.pt --json out.json

`--faces` is a folder of one sub-folder per person; the first `--people` of them are enrolled with
two photos each (through core, before measuring), and the wizard then checks the next photos.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import open_main_window, write_json
from core.vision.imageio import IMAGE_SUFFIXES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, required=True)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--model", type=Path, required=True, help="weights to switch to (re-embeds the gallery)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer

    from core.gallery.enrol import Enroller
    from core.benchmarks.identification import PERMISSIVE

    folder = Path(tempfile.mkdtemp(prefix="rollcall-bench-"))
    app, ctx, window = open_main_window(folder)
    notifier = ctx.notifier

    stalls: list[float] = []
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: stalls.append(max(0.0, clock.restart() - 5)))

    def measure(name: str, start: Callable[[], object], done: Callable[[], bool] | None = None) -> dict:
        """Run `start()`; when it returns a task, wait until the GUI has received its result."""
        stalls.clear()
        clock.start()
        timer.start()
        began = time.monotonic()
        finished = []
        task = start()
        if done is None:
            task.finished.connect(lambda: finished.append(True))
            done = lambda: bool(finished)  # noqa: E731
        while not done():
            app.processEvents()
            time.sleep(0.001)
        seconds = time.monotonic() - began
        timer.stop()
        ticks = stalls or [0.0]  # a phase shorter than one 5 ms tick had no chance to stall
        result = {"phase": name, "seconds": round(seconds, 2), "stall_ms_max": round(max(ticks), 1),
                  "stall_ms_p99": round(float(np.percentile(ticks, 99)), 1),
                  "stalls_over_100ms": int(sum(s > 100 for s in stalls))}
        print(json.dumps(result))
        return result

    results = []
    results.append(measure("loading the models", ctx.load_engine, lambda: ctx.engine_ready))

    people = sorted((p for p in args.faces.iterdir() if p.is_dir()), key=lambda p: p.name)
    photos = {p: sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) for p in people}
    enroller = Enroller(ctx.pipeline, ctx.gallery, PERMISSIVE)
    for person in people[: args.people]:
        enroller.enrol(person.name, [enroller.check_file(f) for f in photos[person][:2]])
    ctx.gallery_changed.emit()
    samples = 2 * args.people

    wizard = window.people.open_enrol_wizard()
    wizard.name_edit.setText("New person")
    wizard.next()
    extra = [f for person in people[args.people: args.people + 5] for f in photos[person][:2]]
    results.append(measure(f"wizard checks {len(extra)} photos", lambda: wizard.add_photos(extra),
                           lambda: wizard.candidates.pending == 0))
    wizard.reject()

    results.append(measure(f"model switch re-embeds {samples} samples",
                           lambda: window.settings.choose_model_file(args.model)))
    results.append(measure("calibration", window.settings.calibrate))
    errors = [f"{n.title}: {n.text}" for n in notifier.history if n.level == "error"]
    window.close()
    if args.json:
        write_json(args.json, {"results": results, "errors": errors})
    if errors:
        print("errors:", errors)


if __name__ == "__main__":
    main()
