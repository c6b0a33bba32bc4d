"""Open-set benchmark: strangers and false marks, per photo and per 5-photo session.

    python -m bench.openset --data DIR --enrolled-fraction 0.5 --enroll-per-subject 3 \\
        [--embedder dlib|PATH] [--detector mtcnn|yunet:PATH] [--seed 0] [--json OUT] \\
        [--variant normal|dark|tight] [--distractors] [--cache-dir DIR] [--threshold-source policy|model-default] [--tables JSON]

DIR is a folder of person folders, or the CelebA benchmark layout (images/ and
identities.txt). A seeded half of the people is enrolled with 3 photos each
through Rollcall's enrolment; everyone else is a stranger. Every other photo is
a probe, and sessions of 5 probe photos of one person are marked by the live
loop's vote. `--variant dark|tight` darkens or tightly crops the probes and
compares with the normal photos; `--distractors` pads the gallery with other
identities (the scale curve). The protocol is core/benchmarks/openset.py.
Evaluation only: never choose a threshold or margin from its results.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bench.common import write_json
from core.benchmarks.openset import DEFAULT_SIZES, MIN_STRANGERS, SESSIONS_PER_PERSON
from core.benchmarks.openset_images import VARIANTS
from core.benchmarks.openset_run import THRESHOLD_SOURCES, OpensetSettings, run_openset
from core.errors import RollcallError
from core.gallery.policy import ImpostorTable, register_table, table_for
from core.paths import user_cache_dir

log = logging.getLogger("bench.openset")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="person folders, or images/ + identities.txt")
    parser.add_argument("--enrolled-fraction", type=float, default=0.5)
    parser.add_argument("--enroll-per-subject", type=int, default=3)
    parser.add_argument("--embedder", default="dlib", help="dlib | PATH to a model file")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | yunet:PATH")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face to detect")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=VARIANTS, default="normal")
    parser.add_argument("--distractors", action="store_true", help="also the scale curve (gallery padded)")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="gallery sizes of the curve")
    parser.add_argument("--min-strangers", type=int, default=MIN_STRANGERS, help="strangers the curve keeps")
    parser.add_argument("--sessions-per-person", type=int, default=SESSIONS_PER_PERSON)
    parser.add_argument("--threshold-source", choices=THRESHOLD_SOURCES, default="policy",
                        help="policy (Rollcall's false-mark policy; the default) or the model's default threshold")
    parser.add_argument("--tables", type=Path, default=Path(__file__).parent / "results" / "impostor_tables.json",
                        help="impostor tables (bench.impostor_table's JSON) for models the app does not ship, "
                             "e.g. the EdgeFace test weights")
    parser.add_argument("--cache-dir", type=Path, help="where embedding passes are kept "
                        "(default: the user cache's openset folder; 'none' for no cache)")
    parser.add_argument("--json", type=Path, help="write the results here")
    return parser.parse_args(argv)


def register_bench_tables(path: Path) -> int:
    """Let the policy use the tables measured by bench.impostor_table for models without shipped ones."""
    if not path.is_file():
        return 0
    data = json.loads(path.read_text())
    count = 0
    for model in data.get("models", {}).values():
        for route in model.get("routes", {}).values():
            table = ImpostorTable.from_dict(route["table"])
            if table_for(table.model, table.route) is None:
                register_table(table)
                count += 1
    return count


def settings_from(args: argparse.Namespace) -> OpensetSettings:
    if args.cache_dir is None:
        cache = user_cache_dir() / "openset"
    else:
        cache = None if str(args.cache_dir).lower() == "none" else args.cache_dir
    sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip())
    return OpensetSettings(
        data=args.data, enrolled_fraction=args.enrolled_fraction, enroll_per_subject=args.enroll_per_subject,
        embedder=args.embedder, detector=args.detector, device=args.device, min_face=args.min_face, seed=args.seed,
        variant=args.variant, distractors=args.distractors, sizes=sizes, min_strangers=args.min_strangers,
        sessions_per_person=args.sessions_per_person, threshold_source=args.threshold_source, cache_dir=cache)


def _pct(value: float) -> str:
    return f"{100 * value:6.2f} %"


ROWS = (("enrolled marked as themselves", "enrolled_mark_rate"),
        ("strangers marked (false marks)", "stranger_false_mark_rate"),
        ("enrolled marked as someone else", "wrong_person_rate"),
        ("photo TAR (enrolled accepted)", "photo_tar"),
        ("photo FAR (strangers accepted)", "photo_far"))


def format_table(r: dict) -> str:
    """The result as a few readable tables."""
    draw = r["session_draw"]
    lines = [
        f"open set: {r['subjects']} people, {r['enrolled']} enrolled x {r['enroll_per_subject']} photos, "
        f"{r['strangers']} strangers; {r['probes']} probe photos; {r['sessions']} sessions "
        f"({draw['enrolled']} enrolled, {draw['strangers']} strangers; {draw['per_person']} per person of "
        f"{draw['length']} photos, {draw['with_repeats']} drawn with repeats)",
        f"model {r['embedder']}, detector {r['detector_spec']}, variant {r['variant']}, seed {r['seed']}",
        f"threshold {r['threshold']:.4f}, margin {r['margin']:.3f} from {r['threshold_source']}",
        f"no face: {r['no_face']['count']} of {r['no_face']['of_probes']} probes ({_pct(r['no_face']['rate'])})",
        "",
    ]
    header = f"{'':34}{r['variant']:>10}" + (f"{'normal':>10}{'delta':>10}" if "normal" in r else "")
    lines.append(header)
    for label, key in ROWS:
        line = f"{label:34}{_pct(r[key]):>10}"
        if "normal" in r:
            line += f"{_pct(r['normal'][key]):>10}{100 * r['vs_normal'][key + '_delta']:+9.2f}p"
        lines.append(line)
    if "vs_normal" in r:
        v = r["vs_normal"]
        lines.append(f"faces found: {v['faces_found']} vs {v['faces_found_normal']} normal "
                     f"(ratio {v['faces_found_ratio']:.3f})")
    lines.append(f"strangers' false marks: {r['counts']['stranger_marked']} of {r['counts']['stranger_sessions']} "
                 f"sessions (95 % upper bound {_pct(r['stranger_false_mark_upper95']).strip()}); "
                 f"{r['counts']['stranger_marked_distinct']} of {r['counts']['stranger_sessions_distinct']} "
                 f"sessions of 5 different photos")
    lines += ["", "per-session false-mark targets (threshold from the policy):"]
    reasons = {e.get("unavailable") for e in r["targets"].values()}
    if len(reasons) == 1 and None not in reasons:  # one line when the policy is missing for all
        lines.append(f"  {', '.join(r['targets'])}: unavailable ({reasons.pop()})")
        return _with_curve(lines, r)
    for key, entry in r["targets"].items():
        if "unavailable" in entry:
            lines.append(f"  {key}: unavailable ({entry['unavailable']})")
        else:
            lines.append(f"  {key}: threshold {entry['threshold']:.4f} margin {entry['margin']:.3f}  "
                         f"enrolled {_pct(entry['enrolled_mark_rate'])}  "
                         f"strangers {_pct(entry['stranger_false_mark_rate'])}  wrong {_pct(entry['wrong_person_rate'])}")
    return _with_curve(lines, r)


def _with_curve(lines: list[str], r: dict) -> str:
    if "scale_curve" in r:
        lines += ["", f"{'gallery':>8}{'enrolled':>10}{'distract.':>10}{'threshold':>10}{'enr. marked':>13}"
                      f"{'core marked':>13}{'strangers':>11}{'false marks':>13}{'photo FAR':>11}"]
        for e in r["scale_curve"]:
            lines.append(f"{e['gallery_size']:>8}{e['enrolled_in_gallery']:>10}{e['distractors']:>10}"
                         f"{e['threshold']:>10.4f}{_pct(e['enrolled_mark_rate']):>13}"
                         f"{_pct(e['core_enrolled_mark_rate']):>13}{e['strangers']:>11}"
                         f"{_pct(e['stranger_false_mark_rate']):>13}{_pct(e['photo_far']):>11}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        register_bench_tables(args.tables)
        result = run_openset(settings_from(args))
    except RollcallError as exc:
        log.error("%s", exc)
        return 2
    print(format_table(result))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
