"""The curves and timing of a finetune run, read from its events: per validation (both stages) the loss,
accuracy, SR-HR similarity, spread and verification; seconds per epoch in each stage; the final comparison.

    python -m bench.finetune_curves RUN_DIR [--json OUT.json] [--plot OUT.png]

Measures nothing itself: everything comes from RUN_DIR/events.jsonl (time stamps included), so it can be
run on a finished run from any machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

from bench.common import write_json
from trainer.events import Epoch, Finished, RunStarted, Validation, parse_event

SERIES = ("similarity", "accuracy", "verification", "verification_hr")
COLOURS = {"similarity": (40, 40, 220), "accuracy": (40, 160, 40), "verification": (200, 120, 20),
           "verification_hr": (120, 120, 120)}


def read_run(run_dir: Path) -> dict:
    events = [parse_event(line) for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    started = next(e for e in events if isinstance(e, RunStarted))
    epochs = [(e, t) for e, t in zip(events, _times(run_dir)) if isinstance(e, Epoch)]
    seconds: dict[int, list[float]] = {}
    previous = _times(run_dir)[0]
    for event, at in epochs:
        seconds.setdefault(event.stage or 0, []).append(at - previous)
        previous = at
    validations = [{"step": v.step, "epoch": v.epoch + 1, "stage": v.stage, "is_best": v.is_best, **v.metrics}
                   for v in events if isinstance(v, Validation)]
    finished = next((e for e in reversed(events) if isinstance(e, Finished)), None)
    return {
        "run_dir": str(run_dir), "device": started.device, "total_steps": started.total_steps,
        "config": {k: started.config.get(k) for k in ("embedder", "dsr", "batch_size", "stage1_epochs",
                                                       "stage2_epochs", "head_lr", "backbone_lr", "head_lr_stage2")},
        "seconds_per_epoch": {f"stage{k}": round(statistics.median(v), 1) for k, v in seconds.items()},
        "epochs": {f"stage{k}": len(v) for k, v in seconds.items()},
        "validations": validations,
        "status": finished.status if finished else None,
        "elapsed_s": finished.elapsed_s if finished else None,
        "best_similarity": finished.summary.get("best_similarity") if finished else None,
        "evaluation": finished.summary.get("evaluation") if finished else None,
    }


def _times(run_dir: Path) -> list[float]:
    return [json.loads(line)["time"] for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def format_report(result: dict) -> str:
    lines = [f"{result['run_dir']}: {result['status']} after {result['elapsed_s']} s on {result['device']}; "
             f"epochs {result['epochs']}, median s/epoch {result['seconds_per_epoch']}",
             "stage epoch  step   loss    acc     sim   spread  verif  verif_hr  best"]
    for v in result["validations"]:
        cells = [f"{v.get(k):.4f}" if isinstance(v.get(k), float) else "   -  "
                 for k in ("loss", "accuracy", "similarity", "spread", "verification", "verification_hr")]
        lines.append(f"{v['stage']:>5} {v['epoch']:>5} {v['step']:>5}  " + "  ".join(cells) + ("   *" if v["is_best"] else ""))
    evaluation = result.get("evaluation")
    if evaluation:
        keys = [k for k in evaluation["models"]["base"] if k != "source"]
        lines.append(f"val split, {evaluation['val_images']} faces, {evaluation['pairs']} pairs, SR by "
                     f"{evaluation['dsr']}:  " + "  ".join(f"{k:>7}" for k in keys))
        for name in ("base", "tuned"):
            row = evaluation["models"][name]
            lines.append(f"  {name:>5}  " + "  ".join(f"{row[k]:7.4f}" if row[k] is not None else "      -"
                                                    for k in keys))
    return "\n".join(lines)


def draw_curves(result: dict, path: Path) -> Path:
    """Validation metrics against the epoch; a vertical line where stage 2 starts."""
    w, h, m = 720, 420, 50
    img = np.full((h, w, 3), 255, np.uint8)
    vals = result["validations"]
    n = max(len(vals), 2)
    xy = lambda i, y: (int(m + i * (w - 2 * m) / (n - 1)), int(h - m - y * (h - 2 * m)))  # noqa: E731
    cv2.rectangle(img, (m, m), (w - m, h - m), (0, 0, 0), 1)
    first2 = next((i for i, v in enumerate(vals) if v["stage"] == 2), None)
    if first2 is not None:
        cv2.line(img, xy(first2 - 0.5, 0), xy(first2 - 0.5, 1), (160, 160, 160), 1)
        cv2.putText(img, "stage 2", (xy(first2 - 0.5, 1)[0] + 4, m + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1)
    for k, key in enumerate(SERIES):
        points = [xy(i, v[key]) for i, v in enumerate(vals) if isinstance(v.get(key), float)]
        for a, b in zip(points, points[1:]):
            cv2.line(img, a, b, COLOURS[key], 2)
        cv2.putText(img, key, (m + 8 + 150 * k, h - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, COLOURS[key], 1)
    for y in (0.0, 0.5, 1.0):
        cv2.putText(img, f"{y:.1f}", (8, xy(0, y)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(img, f"{Path(result['run_dir']).name}: validation per epoch", (m, 30), cv2.FONT_HERSHEY_SIMPLEX,
                0.55, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    if not (args.run_dir / "events.jsonl").is_file():
        print(f"{args.run_dir} has no events.jsonl: give a finetune run folder", file=sys.stderr)
        return 2
    result = read_run(args.run_dir)
    print(format_report(result))
    if args.json:
        write_json(args.json, result)
    if args.plot:
        draw_curves(result, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
