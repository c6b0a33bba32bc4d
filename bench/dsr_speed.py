"""CPU time of the DSR super-resolution network per face (28 px aligned crop -> 112 px), batch 1 and 8.

    python -m bench.dsr_speed [--checkpoint PATH] [--runs 100]

Without a checkpoint the default architecture is timed with its initial weights (the time does not
depend on the weights). Prints median and 90th percentile after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from core.vision.models.dsr import DSRNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="a trained DSR checkpoint (default: the default architecture)")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    if args.checkpoint:
        from core.vision.models.loading import load_super_resolver

        model = load_super_resolver(args.checkpoint)
    else:
        model = DSRNet()
    model.eval()
    out = {"parameters": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads()}
    with torch.inference_mode():
        for batch in (1, 8):
            x = torch.rand(batch, 3, 28, 28) * 2 - 1
            for _ in range(10):
                model(x)
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - t0) * 1e3 / batch)
            out[f"batch{batch}_ms_per_face"] = {"median": round(float(np.median(times)), 2),
                                                "p90": round(float(np.percentile(times, 90)), 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
