"""Low-resolution face verification: HR vs bicubic vs DSR on a pairs file (e.g. ../shared/bench/celeba).

    python -m bench.lowres --data ../shared/bench/celeba --size 12,16,24,32 --dsr PATH|none \\
        --embedder dlib|PATH --json OUT.json [--plot OUT.png] [--limit N] [--cache-dir DIR]

A thin command line over `core.benchmarks.lowres` (the same code runs as the
trainer's job: `rollcall-train eval-lowres --config bench/configs/eval_lowres_celeba.yaml`).
`--cache-dir DIR` keeps the full-resolution pass (embeddings and landmarks of
every image) in DIR, keyed by data folder, pairs, detector, embedder weights and
--min-face (`core.benchmarks.lowres_cache`), so later runs with other sizes or another DSR
skip it.

Protocol (the module docstring of core/benchmarks/lowres.py has it in full): every
image at full resolution (`hr`); for each size N, image_b of every pair downscaled
so its face is N px wide, landmarks re-detected (else the HR ones scaled down),
and embedded by `bicubic` (28 px crop, bicubic x4), `dsr` (the same with the DSR
model; null when --dsr none) and `direct` (the embedder's own alignment from the
small image). Reports 10-fold accuracy and TAR@FAR=1e-2 (plus AUC) per method and
size, writes JSON and a PNG plot. Evaluation only: never tune anything on it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench.common import write_json
from core.errors import RollcallError
from core.benchmarks.lowres import LowresSettings, draw_plot, format_table, run_benchmark

log = logging.getLogger("bench.lowres")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with images/ and pairs.txt")
    parser.add_argument("--size", default="12,16,24,32", help="face widths in px, comma-separated")
    parser.add_argument("--dsr", default="none", help="none | PATH to a DSR checkpoint")
    parser.add_argument("--embedder", default="dlib", help="dlib | PATH to a model file")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | yunet:PATH")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to detect at full resolution")
    parser.add_argument("--lr-min-face", type=int, default=12, help="smallest face to detect on degraded images")
    parser.add_argument("--limit", type=int, help="use only N pairs, half of each kind (smoke runs)")
    parser.add_argument("--cache-dir", type=Path, help="cache the full-resolution pass here (default: no cache)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="PNG plot (default: the --json path with .png)")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> LowresSettings:
    sizes = tuple(int(s) for s in args.size.split(",") if s.strip())
    return LowresSettings(data=args.data, sizes=sizes, detector=args.detector, embedder=args.embedder,
                          dsr=args.dsr, device=args.device, min_face=args.min_face, lr_min_face=args.lr_min_face,
                          limit=args.limit, cache_dir=args.cache_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        result = run_benchmark(settings_from(args))
    except RollcallError as exc:
        log.error("%s", exc)
        return 2
    print(format_table(result))
    if args.json:
        write_json(args.json, result)
    plot = args.plot or (args.json.with_suffix(".png") if args.json else None)
    if plot:
        draw_plot(result, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
