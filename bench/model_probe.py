"""CPU time of the sanity probe run before a new embedder is activated or promoted, and of the tensor
checks every model file gets while it loads.

    python -m bench.model_probe [--runs 10] [MODEL ...]

Times the probe (six synthetic faces through the model) for dlib's ResNet and each MODEL file; prints the
median and maximum after one warm-up, and the probe's mean pairwise cosine (blank weights give 1.0; the
refusal starts at sanity.COLLAPSE_COSINE).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from core.vision.models.loading import default_embedder, load_embedder
from core.vision.models.sanity import PROBE_FACES, check_weights, probe_embedder, probe_faces


def _mean_cosine(embedder) -> float:
    with torch.inference_mode():
        raw = embedder.model(embedder.to_tensor(probe_faces(embedder.spec.size))).float()
    unit = torch.nn.functional.normalize(raw, dim=1)
    return float((unit @ unit.T)[torch.triu_indices(PROBE_FACES, PROBE_FACES, 1).unbind()].mean())


def _timed(fn, runs: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": round(float(np.median(times)), 1), "max_ms": round(float(np.max(times)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="model files to probe besides dlib's ResNet")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    out = {"threads": torch.get_num_threads()}
    for name, embedder in [("dlib", default_embedder())] + [(Path(m).name, load_embedder(m)) for m in args.models]:
        out[name] = {
            "probe": _timed(lambda: probe_embedder(embedder), args.runs),
            "tensor_checks": _timed(lambda: check_weights(embedder.model, Path(name)), args.runs),
            "mean_cosine": round(_mean_cosine(embedder), 4),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
