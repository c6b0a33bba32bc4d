"""How long the GUI event loop stalls while the People tab's Enrol-from-folder dialog enrols many people
in the background (issue 15). Measured in the real main window with a 5 ms timer on the GUI thread (a
stall is how much later than due it fired), from the click on Enrol until the report is shown.

    QT_QPA_PLATFORM=offscreen python -m bench.gui_stalls_bulk --faces ../shared/faces/orl --people 40 \
        --photos 10 --json bench/results/gui_stalls_bulk.json

`--faces` is a folder of one sub-folder per person; the first `--people` of them (in natural order),
with their first `--photos` photos each, are linked into a temporary folder (never the repository),
which the dialog then previews and enrols into the group "Bench". As in the app, cyclic garbage is
collected on the GUI thread (desktop.gc_guard), so its pauses count as stalls.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import open_main_window, write_json
from core.vision.imageio import IMAGE_SUFFIXES


def natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", path.name)]


def build_folder(faces: Path, people: int, photos: int) -> tuple[Path, int]:
    """A temporary folder of `people` sub-folders with links to `photos` photos each; (folder, photo count)."""
    root = Path(tempfile.mkdtemp(prefix="rollcall-bulk-"))
    count = 0
    for person in sorted((p for p in faces.iterdir() if p.is_dir()), key=natural)[:people]:
        chosen = sorted((f for f in person.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES), key=natural)[:photos]
        (root / person.name).mkdir()
        for photo in chosen:
            (root / person.name / photo.name).symlink_to(photo.resolve())
        count += len(chosen)
    return root, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, required=True)
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer

    from desktop.gc_guard import collect_on_gui_thread

    source, n_photos = build_folder(args.faces, args.people, args.photos)
    app, ctx, window = open_main_window(Path(tempfile.mkdtemp(prefix="rollcall-bench-")))
    collect_on_gui_thread(app)  # as the app does: cyclic garbage is collected on the GUI thread, in its stalls

    stalls: list[float] = []
    long_ones: list[tuple[float, float]] = []  # (seconds into the phase, stall ms) of stalls over 50 ms
    clock = QElapsedTimer()
    began = [0.0]
    timer = QTimer()
    timer.setInterval(5)

    def tick() -> None:
        stall = max(0.0, clock.restart() - 5)
        stalls.append(stall)
        if stall > 50:
            long_ones.append((round(time.monotonic() - began[0], 2), stall))

    timer.timeout.connect(tick)

    def wait(done: Callable[[], bool]) -> float:
        began = time.monotonic()
        while not done():
            app.processEvents()
            time.sleep(0.001)
        return time.monotonic() - began

    def measure(name: str, start: Callable[[], object], done: Callable[[], bool]) -> dict:
        stalls.clear()
        long_ones.clear()
        began[0] = time.monotonic()
        clock.start()
        timer.start()
        start()
        seconds = wait(done)
        timer.stop()
        ticks = stalls or [0.0]
        result = {"phase": name, "seconds": round(seconds, 2), "stall_ms_max": round(max(ticks), 1),
                  "stall_ms_p99": round(float(np.percentile(ticks, 99)), 1),
                  "stalls_over_100ms": int(sum(s > 100 for s in stalls)), "stalls_over_50ms_at": list(long_ones)}
        print(json.dumps(result))
        return result

    ctx.load_engine()
    wait(lambda: ctx.engine_ready or bool(ctx.engine_error))
    dialog = window.people.register.open_folder_dialog(group="Bench")
    results = [measure(f"preview of {args.people} sub-folders", lambda: dialog.load(str(source)),
                       lambda: not dialog.busy)]
    progress: list[int] = []
    dialog.progress.valueChanged.connect(progress.append)
    enrol = measure(f"enrol {args.people} people x {args.photos} photos", dialog.start, lambda: not dialog.busy)
    report = dialog.result
    enrol.update({"photos": n_photos, "photos_checked": report.photos_checked if report else 0,
                  "photos_per_s": round(report.photos_checked / enrol["seconds"], 2) if report else 0.0,
                  "progress_updates": len(progress), "report": report.summary() if report else dialog.error_label.text(),
                  "usable_samples": sum(o.usable for o in report.outcomes) if report else 0,
                  "enrolled": ctx.gallery.count_people()})
    results.append(enrol)
    enrol["load_average_1min_after"] = round(os.getloadavg()[0], 1)  # other work sharing the machine
    print(f"wall {enrol['seconds']:.1f} s, {enrol['photos_per_s']:.2f} photos/s, longest GUI stall "
          f"{enrol['stall_ms_max']:.0f} ms (p99 {enrol['stall_ms_p99']:.0f} ms); {enrol['report']}")
    errors = [f"{n.title}: {n.text}" for n in ctx.notifier.history if n.level == "error"]
    window.close()
    if args.json:
        write_json(args.json, {"results": results, "errors": errors})
    if errors:
        print("errors:", errors)


if __name__ == "__main__":
    main()
