"""Below which face width does the small-face route pay? The low-res benchmark's protocol, run on the
validation people of a train-dsr run instead of a benchmark.

    python -m bench.sr_crossover --run RUN_DIR [--embedder dlib|PATH] [--detector mtcnn|yunet:PATH] \\
        [--sizes 12,16,20,24,28,32] [--json OUT.json]

The validation people of RUN_DIR (split.json; data from config.yaml) are faces the DSR never saw, from the
training data set. Their photos become a temporary pairs benchmark (every same-person pair up to 1,000 and as
many different-person pairs, seeded) and `core.benchmarks.lowres` runs on it exactly as `bench.lowres` runs on
CelebA: image_b shrunk so its face is N px wide, landmarks detected on the small image, then `direct` (the
embedder's own alignment), `bicubic` and `dsr` (RUN_DIR/best.pt). Prints 10-fold accuracy per size and way.
The app's width for the small-face route is read from this, never from a benchmark.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import write_json
from core.benchmarks.lowres import LowresSettings, run_benchmark
from trainer.config import load_config
from trainer.faces import list_subjects

log = logging.getLogger("bench.sr_crossover")
MAX_GENUINE = 1000


def write_val_pairs(run_dir: Path, folder: Path, seed: int = 0) -> int:
    """images/ (links to the validation people's photos) and pairs.txt in `folder`; the number of pairs."""
    cfg = load_config("train-dsr", run_dir / "config.yaml")
    val_names = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))["val"]
    subjects = list_subjects(cfg.data)
    images = folder / "images"
    images.mkdir(parents=True)
    names, people = [], []
    for person in val_names:
        for path in subjects[person]:
            name = f"{person}__{path.name}"
            os.symlink(path.resolve(), images / name)
            names.append(name)
            people.append(person)
    people = np.asarray(people)
    i, j = np.triu_indices(len(names), k=1)
    same = people[i] == people[j]
    rng = np.random.default_rng(seed)
    genuine = np.flatnonzero(same)
    genuine = np.sort(rng.permutation(genuine)[:MAX_GENUINE])
    impostor = np.sort(rng.permutation(np.flatnonzero(~same))[:len(genuine)])
    lines = [f"{names[i[k]]} {names[j[k]]} {int(same[k])}" for k in np.concatenate([genuine, impostor])]
    (folder / "pairs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a train-dsr run folder (best.pt, split.json)")
    parser.add_argument("--embedder", default="dlib", help="dlib | PATH")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | yunet:PATH")
    parser.add_argument("--sizes", default="12,16,20,24,28,32")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    with tempfile.TemporaryDirectory(prefix="rollcall-crossover-") as tmp:
        n_pairs = write_val_pairs(args.run, Path(tmp))
        settings = LowresSettings(data=Path(tmp), sizes=sizes, detector=args.detector, embedder=args.embedder,
                                  dsr=str(args.run / "best.pt"))
        result = run_benchmark(settings)
    result["config"]["data"] = f"validation people of {args.run} ({n_pairs} pairs)"
    print(f"{result['config']['embedder_name']}, {args.detector}: 10-fold accuracy on {n_pairs} pairs of the "
          f"run's validation people (full resolution: {result['sizes'][str(sizes[0])]['hr']['accuracy']:.4f})")
    print(f"{'size':>5s} {'direct':>8s} {'bicubic':>8s} {'dsr':>8s}")
    for size in sizes:
        entry = result["sizes"][str(size)]
        print(f"{size:5d} " + " ".join(f"{entry[m]['accuracy']:8.4f}" for m in ("direct", "bicubic", "dsr")))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
