"""The Training tab under a flood of trainer events (target: the dashboard stays responsive at 50 events/s).

    QT_QPA_PLATFORM=offscreen python -m bench.gui_training --json bench/results/gui_training.json

The real main window is built (as bench/gui_stalls.py does: AppContext and MainWindow on a temporary
data folder, no models loaded) with the Training tab shown. Its trainer child is replaced, through the
page's `command_factory`, by a small fake trainer (a script written to a temporary file) that prints
schema-valid events made with `trainer.events.to_line`: `run_started`, then `step` events with changing
losses, a `validation` (15 metrics) after every 50th step, then `finished`; one event every 1/RATE
seconds on an absolute schedule, for SECONDS. Like the real trainer it also writes its human log line
on stderr for each step and validation (the page shows stderr in its log view); `--no-log` turns that
off. The child goes through the real path: `desktop.trainer_process.TrainerProcess` (QProcess, line
splitting, `parse_event`) and `TrainingPage._on_event`, with the page's own ~10 Hz chart timer, in
the application's own event loop (QEventLoop.exec, not a processEvents polling loop).

Measured per run, from just before the child is started until the page has seen it exit:
- stalls: a 5 ms QTimer on the GUI thread; a stall is how much later than due it fired (max, p99,
  how many over 50 ms);
- events: what the child wrote, what the page received (`events_received`) and the lines it refused;
- latency: from the `time` field the child stamped into an event to the GUI thread having handled it
  (parsed it and updated the page);
- GUI time in the stdout and stderr handlers (reading, splitting, parsing, updating the page), in total
  and as a share of the run;
- charts: repaints per second (paintEvent calls) of the loss chart and of all four, and the mean /
  max time of one paint (LineChart.paintEvent is wrapped in this process to time it).

Runs `--rate` (default 50) events/s for `--seconds` (default 10), then once at `--stress-rate`
(default 500; 0 skips it) for the same time.

It also reports how many references to None, True and False each run lost (`refs_lost`): PySide6
6.12.0's abi3 wheel on CPython 3.11 drops one on every call of a Qt method returning nothing, which
aborts the app within minutes ("Fatal Python error: none_dealloc"); pyproject.toml excludes it and
tests/desktop/test_qt_binding.py checks the installed binding. `--pin N` holds N extra references to
each, to measure such a binding at all.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from bench.common import open_main_window, write_json

REPO_ROOT = Path(__file__).resolve().parent.parent
SINGLETONS = {"None": None, "True": True, "False": False}

FAKE_TRAINER = textwrap.dedent('''\
    """A fake train-dsr child for bench/gui_training.py: schema-valid events at a fixed rate."""
    import argparse, math, random, sys, time
    sys.path.insert(0, {repo!r})
    from trainer.config import DSRTrainConfig
    from trainer.events import Finished, RunStarted, Step, Validation, to_line

    p = argparse.ArgumentParser()
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--val-every", type=int, default=50)
    p.add_argument("--no-log", action="store_true")
    a = p.parse_args()

    plan, step = [], 0  # ("step", n) or ("val", n), a.events of them
    while len(plan) < a.events:
        step += 1
        plan.append(("step", step))
        if step % a.val_every == 0 and len(plan) < a.events:
            plan.append(("val", step))
    total = step
    rnd = random.Random(0)
    metrics_names = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "identity", "verification",
                     "identity_bicubic", "verification_bicubic", "identity:dlib", "identity:edgeface_xs",
                     "verification:dlib", "verification:edgeface_xs", "identity_bicubic:dlib",
                     "identity_bicubic:edgeface_xs", "psnr_gain")

    def out(event):
        sys.stdout.write(to_line(event) + "\\n")
        sys.stdout.flush()

    def log(message):
        if not a.no_log:
            sys.stderr.write(time.strftime("%H:%M:%S") + " INFO trainer.train_dsr: " + message + "\\n")
            sys.stderr.flush()

    cfg = DSRTrainConfig(data=a.run_dir)
    out(RunStarted(job="train-dsr", run_dir=a.run_dir, device="cpu", amp=False, config=cfg.to_dict(),
                   start_step=0, total_steps=total))
    t0 = time.monotonic()
    best = -1.0
    for i, (kind, n) in enumerate(plan):
        delay = t0 + i / a.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        decay = math.exp(-n / max(total, 1) * 3)
        if kind == "step":
            losses = {{"l1": 0.05 + 0.2 * decay + rnd.uniform(0, 0.01),
                       "identity": 0.03 + 0.1 * decay + rnd.uniform(0, 0.01),
                       "feature": 0.3 + 0.7 * decay + rnd.uniform(0, 0.05)}}
            losses["total"] = losses["l1"] + 0.6 * losses["identity"] + 0.18 * losses["feature"]
            lr = 2e-4 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * n / total)))
            out(Step(step=n, epoch=n // 84, total_steps=total, losses=losses, lr=lr,
                     samples_per_s=round(16 * a.rate, 3), eta_s=round((total - n) / a.rate, 1)))
            log("step %d/%d %s lr %.2e" % (n, total, " ".join("%s %.4f" % kv for kv in losses.items()), lr))
        else:
            metrics = {{k: rnd.uniform(0.5, 1.0) for k in metrics_names}}
            metrics["psnr"], metrics["psnr_bicubic"] = 24 - 2 * decay, 23.2
            is_best = metrics["identity"] > best
            best = max(best, metrics["identity"])
            out(Validation(step=n, epoch=n // 84, metrics=metrics, best_metric="identity", best_value=best,
                           is_best=is_best))
            log("validation at step %d: %s" % (n, " ".join("%s %.4f" % kv for kv in metrics.items())))
    out(Finished(status="completed", step=total, elapsed_s=round(time.monotonic() - t0, 3),
                 summary={{"best_identity": best, "metrics": {{}}, "last": None, "best": None}}))
''')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stress-rate", type=float, default=500.0, help="a second run at this rate (0: none)")
    parser.add_argument("--no-log", action="store_true", help="the fake trainer writes no stderr log lines")
    parser.add_argument("--pin", type=int, default=0,
                        help="extra references to None, True, False held against a binding that loses them")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pins = [[None] * args.pin, [True] * args.pin, [False] * args.pin]
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(pins))  # never freed: freeing them would abort

    folder = Path(tempfile.mkdtemp(prefix="rollcall-bench-"))
    os.environ["ROLLCALL_DATA_DIR"] = str(folder / "userdata")  # default run folders land here, not in ~

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from desktop.widgets.line_chart import LineChart

    paint_s: dict[str, list[float]] = {}
    original_paint = LineChart.paintEvent

    def timed_paint(self, event) -> None:  # noqa: ANN001 - Qt's signature
        t0 = time.perf_counter()
        original_paint(self, event)
        paint_s.setdefault(self.title, []).append(time.perf_counter() - t0)

    LineChart.paintEvent = timed_paint  # this process only: times every chart repaint

    app, ctx, window = open_main_window(folder)
    notifier = ctx.notifier
    page = window.training
    window.show_advanced(True)  # the Training tab is behind View > Advanced
    window.tabs.setCurrentWidget(page)
    app.processEvents()

    script = folder / "fake_trainer.py"
    script.write_text(FAKE_TRAINER.format(repo=str(REPO_ROOT)), encoding="utf-8")
    data = folder / "faces"
    data.mkdir()
    page.data_edit.setText(str(data))
    page.device_combo.setCurrentIndex(page.device_combo.findData("cpu"))

    stalls: list[float] = []
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: stalls.append(max(0.0, clock.restart() - 5)))

    handled: list[tuple[float, bytes]] = []  # (when the GUI thread was done with a line, the line)
    handle_line = page.process._handle_stdout

    def stamped(raw: bytes) -> None:
        handle_line(raw)  # parse_event, then the page's _on_event (a direct connection)
        handled.append((time.time(), raw))  # the line's "time" is read after the run, not here

    page.process._handle_stdout = stamped
    handler_s = {"stdout": [], "stderr": []}

    def timed(name: str, method):  # noqa: ANN001, ANN202
        def wrapper() -> None:
            t0 = time.perf_counter()
            method()
            handler_s[name].append(time.perf_counter() - t0)
        return wrapper

    # TrainerProcess.start connects readyRead* to these attributes, so instance attributes take their place
    page.process._read_stdout = timed("stdout", page.process._read_stdout)
    page.process._read_stderr = timed("stderr", page.process._read_stderr)

    def measure(rate: float, index: int) -> dict:
        n_events = max(1, int(round(rate * args.seconds)))
        run_dir = folder / f"run{index}"
        page.out_edit.setText(str(run_dir))
        command = [sys.executable, str(script), "--rate", f"{rate:g}", "--events", str(n_events),
                   "--run-dir", str(run_dir)] + (["--no-log"] if args.no_log else [])
        page.command_factory = lambda run_dir, resume, minutes: command
        stalls.clear()
        handled.clear()
        paint_s.clear()
        for values in handler_s.values():
            values.clear()
        repaints0 = {chart.title: chart.repaints for chart in page.charts}
        received0 = page.events_received  # the page counts over its lifetime
        loop = QEventLoop()
        page.process.ended.connect(loop.quit)
        QTimer.singleShot(int((args.seconds + 60) * 1000), loop.quit)  # a safety net, never the normal end
        refs0 = {name: sys.getrefcount(obj) for name, obj in SINGLETONS.items()}
        clock.start()
        timer.start()
        began = time.monotonic()
        if not page.start_training():
            raise SystemExit(f"the Training tab refused to start: {[n.text for n in notifier.history]}")
        loop.exec()
        seconds = time.monotonic() - began
        timer.stop()
        page.process.ended.disconnect(loop.quit)
        app.processEvents()
        refs_lost = {name: refs0[name] - sys.getrefcount(obj) for name, obj in SINGLETONS.items()}
        lat_ms = np.asarray([done - json.loads(raw)["time"] for done, raw in handled]) * 1000.0
        received = page.events_received - received0
        stdout_total = sum(handler_s["stdout"])
        stderr_total = sum(handler_s["stderr"])
        loss_paints = paint_s.get(page.loss_chart.title, [])
        all_paints = [s for v in paint_s.values() for s in v]
        result = {
            "rate": rate,
            "seconds": round(seconds, 2),
            "events_sent": n_events + 2,  # run_started and finished included
            "events_received": received,
            "bad_lines": page.bad_lines,
            "state": page.state,
            "loss_points": page.loss_chart.point_count("l1"),
            "stall_ms_max": round(max(stalls), 1),
            "stall_ms_p99": round(float(np.percentile(stalls, 99)), 1),
            "stalls_over_50ms": int(sum(s > 50 for s in stalls)),
            "timer_ticks": len(stalls),
            "latency_ms_p50": round(float(np.percentile(lat_ms, 50)), 2),
            "latency_ms_p99": round(float(np.percentile(lat_ms, 99)), 2),
            "latency_ms_max": round(float(lat_ms.max()), 2),
            "stdout_handler_ms_total": round(stdout_total * 1000, 1),
            "stdout_handler_us_per_event": round(stdout_total * 1e6 / max(received, 1), 1),
            "stdout_handler_calls": len(handler_s["stdout"]),
            "stderr_handler_ms_total": round(stderr_total * 1000, 1),
            "gui_busy_in_handlers_pct": round(100 * (stdout_total + stderr_total) / seconds, 2),
            "chart_refreshes": {title: chart.repaints - repaints0[title]
                                for chart, title in ((c, c.title) for c in page.charts)},
            "loss_chart_paints_per_s": round(len(loss_paints) / seconds, 2),
            "all_chart_paints_per_s": round(len(all_paints) / seconds, 2),
            "paint_ms_mean": round(1000 * float(np.mean(all_paints)), 2) if all_paints else None,
            "paint_ms_max": round(1000 * float(np.max(all_paints)), 2) if all_paints else None,
            "refs_lost": refs_lost,
            "none_refs_lost_per_s": round(refs_lost["None"] / seconds),
        }
        print(json.dumps(result))
        return result

    load_before = os.getloadavg()
    rates = [args.rate] + ([args.stress_rate] if args.stress_rate > 0 else [])
    results = [measure(rate, i) for i, rate in enumerate(rates)]
    load_after = os.getloadavg()
    errors = [f"{n.title}: {n.text}" for n in notifier.history if n.level == "error"]
    window.close()

    print()
    print(f"{'events/s':>8} {'sent':>6} {'recvd':>6} {'bad':>4} {'stall max':>9} {'p99':>6} {'>50ms':>5} "
          f"{'lat p50':>7} {'lat p99':>7} {'us/event':>8} {'busy %':>6} {'loss paints/s':>13} {'paint ms':>8}")
    for r in results:
        print(f"{r['rate']:8g} {r['events_sent']:6d} {r['events_received']:6d} {r['bad_lines']:4d} "
              f"{r['stall_ms_max']:9.1f} {r['stall_ms_p99']:6.1f} {r['stalls_over_50ms']:5d} "
              f"{r['latency_ms_p50']:7.1f} {r['latency_ms_p99']:7.1f} {r['stdout_handler_us_per_event']:8.1f} "
              f"{r['gui_busy_in_handlers_pct']:6.2f} {r['loss_chart_paints_per_s']:13.2f} "
              f"{r['paint_ms_mean'] if r['paint_ms_mean'] is not None else float('nan'):8.2f}")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    lost = [r["none_refs_lost_per_s"] for r in results]
    if any(lost):
        print(f"references to None lost per second (PySide6 refcount bug, see the docstring): {lost}; "
              f"to True / False per run: {[[r['refs_lost']['True'], r['refs_lost']['False']] for r in results]}")
    if errors:
        print("errors:", errors)

    if args.json:
        import PySide6

        summary = {
            "config": {"rate": args.rate, "seconds": args.seconds, "stress_rate": args.stress_rate,
                       "stderr_log": not args.no_log, "platform_plugin": app.platformName()},
            "runs": results, "errors": errors,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "pyside6": PySide6.__version__, "refcount_pins": args.pin,
                        "loadavg_before": [round(x, 2) for x in load_before],
                        "loadavg_after": [round(x, 2) for x in load_after]},
        }
        write_json(args.json, summary)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no interpreter finalisation: with the refcount bug above it can abort on a lost reference


if __name__ == "__main__":
    main()
