"""Below which face width does the small-face route pay? DSR (or bicubic) against direct alignment.

    python -m bench.sr_crossover --run RUN_DIR [--embedder dlib|PATH ...] [--sizes 12,16,20,24,28,32,40] \\
        [--json OUT.json]

Uses only the validation people of a train-dsr run (RUN_DIR/split.json, data from RUN_DIR/config.yaml):
faces the DSR never saw, from the training data set, never a benchmark set. Each face is shrunk so it is N px
wide (`core.degrade.downscale_face`, the low-res benchmark's degradation) and embedded three ways, as the
pipeline would: `direct` (the embedder's own alignment from the small image), `bicubic` and `dsr` (aligned at
28 px, upscaled to 112 px, warped to the embedder's template). Prints the mean cosine similarity of each
to the same face's full-resolution embedding, per size. The pipeline's default `sr_below_px` is read from
this on the training data's validation people, never from a benchmark.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from core.align import align_face
from core.degrade import downscale_face
from core.models.loading import load_embedder, load_resolver
from core.models.superres import BicubicResolver
from core.pipeline import FacePipeline
from trainer.config import load_config
from trainer.faces import FaceFinder, list_subjects, load_faces

log = logging.getLogger("bench.sr_crossover")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a train-dsr run folder (best.pt, split.json)")
    parser.add_argument("--embedder", action="append", help="dlib | PATH (repeatable; default: dlib)")
    parser.add_argument("--sizes", default="12,16,20,24,28,32,40")
    parser.add_argument("--max-faces", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cfg = load_config("train-dsr", args.run / "config.yaml")
    val_names = json.loads((args.run / "split.json").read_text(encoding="utf-8"))["val"]
    faces, _ = load_faces(list_subjects(cfg.data), val_names, FaceFinder(), limit=args.max_faces)
    log.info("%d validation faces of %d people", len(faces), len(val_names))
    dsr = load_resolver(str(args.run / "best.pt"))
    result: dict = {"run": str(args.run), "faces": len(faces), "sizes": sizes, "embedders": {}}
    for name in args.embedder or ["dlib"]:
        embedder = load_embedder(name)
        spec = embedder.spec
        pipeline = FacePipeline(detector=None, embedder=embedder, sr_below_px=1.0)  # type: ignore[arg-type]
        hr = embedder.embed(np.stack([align_face(f.image, f.landmarks, spec.template, spec.size) for f in faces]))
        rows = {}
        for size in sizes:
            crops: dict[str, list[np.ndarray]] = {"direct": [], "bicubic": [], "dsr": []}
            for face in faces:
                small, lm = downscale_face(face.image, face.landmarks, size)
                crops["direct"].append(align_face(small, lm, spec.template, spec.size))
                for method, resolver in (("bicubic", BicubicResolver()), ("dsr", dsr)):
                    pipeline.resolver = resolver
                    crops[method].append(pipeline.upscale_faces(small, [lm])[0])
            rows[size] = {m: float((embedder.embed(np.stack(c)) * hr).sum(1).mean()) for m, c in crops.items()}
            log.info("%s %d px: %s", embedder.name, size, rows[size])
        result["embedders"][embedder.name] = rows
        print(f"\n{embedder.name}: mean cos(low-res way, full resolution), {len(faces)} faces")
        print(f"{'size':>5s} {'direct':>8s} {'bicubic':>8s} {'dsr':>8s}")
        for size, row in rows.items():
            print(f"{size:5d} {row['direct']:8.4f} {row['bicubic']:8.4f} {row['dsr']:8.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())
