"""How the sharpness measures behave with face size, blur and light: the figures behind
core.vision.quality.native_sharpness and CONTRAST_REF_STD.

    python -m bench.face_sharpness --data ../shared/train/celeba76 [--limit 30] [--json OUT.json]

Development data only (never ../shared/bench). Each photo's largest face (MTCNN) is shrunk so it is N px wide
(face_width), optionally blurred first by sigma = s x face width / 112 (the same blur relative to the face at
every size), or darkened (gamma 2.5, light falling to 20 % across the frame). Per case: median and 10th
percentile of `sharpness` (Laplacian variance at 112 px) and of `detail` (native_sharpness, what the trust rule
judges), and the share below BLURRY_SHARPNESS. Also the grey std of the well-lit aligned crops.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from bench.common import write_json
from bench.dim_light import darken, photos
from core.vision.detect import Detection
from core.vision.imageio import read_image
from core.vision.pipeline import build_pipeline
from core.vision.quality import BLURRY_SHARPNESS

log = logging.getLogger("bench.face_sharpness")
WIDTHS = (None, 64, 48, 32, 24, 16)  # None: the photo as it is
BLURS = (0, 2, 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not a.data.is_dir() or "shared/bench" in str(a.data.resolve()):
        log.error("%s: give a folder of development photos (e.g. ../shared/train/celeba76)", a.data)
        return 2
    pipeline = build_pipeline()
    rows: dict[str, list[tuple[float, float]]] = {}
    stds = []
    for path in photos(a.data, a.limit):
        image = read_image(path)
        detections = pipeline.detect(image)
        if not detections:
            continue
        d = max(detections, key=lambda d: d.box[2] - d.box[0])
        face = pipeline.align_detections(image, [d])[0]
        width = face.quality.face_width
        grey = cv2.resize(cv2.cvtColor(face.crop, cv2.COLOR_BGR2GRAY), (112, 112), interpolation=cv2.INTER_AREA)
        stds.append(float(grey.std()))
        for target in WIDTHS:
            scale = 1.0 if target is None else target / width
            if scale > 1:
                continue
            for blur in BLURS:
                img = image if blur == 0 else cv2.GaussianBlur(image, (0, 0), blur * width / 112)
                if scale < 1:
                    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                q = pipeline.align_detections(img, [Detection(d.box * scale, 1.0, d.landmarks * scale)])[0].quality
                rows.setdefault(f"{target or 'full'} px, blur {blur}", []).append((q.sharpness, q.detail))
        dark = pipeline.detect(darken(image))
        if dark:
            q = pipeline.align_detections(darken(image), dark[:1])[0].quality
            rows.setdefault("full, dark", []).append((q.sharpness, q.detail))
    table = {}
    for name, values in rows.items():
        v = np.asarray(values)
        table[name] = {"n": len(v), **{f"{k}_{stat}": round(float(f(v[:, i])), 1)
                                       for i, k in enumerate(("sharpness", "detail"))
                                       for stat, f in (("median", np.median), ("p10", lambda x: np.percentile(x, 10)))},
                       "sharpness_below": round(float((v[:, 0] < BLURRY_SHARPNESS).mean()), 2),
                       "detail_below": round(float((v[:, 1] < BLURRY_SHARPNESS).mean()), 2)}
        log.info("%-18s %s", name, table[name])
    result = {"config": {"data": str(a.data), "limit": a.limit, "blurry_sharpness": BLURRY_SHARPNESS},
              "crop_grey_std_p10_p50_p90": [round(float(x), 1) for x in np.percentile(stds, [10, 50, 90])],
              "cases": table}
    log.info("grey std of the aligned crops (10th, 50th, 90th percentile): %s", result["crop_grey_std_p10_p50_p90"])
    if a.json:
        write_json(a.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
