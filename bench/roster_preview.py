"""Class-list preview speed: a generated list whose photo cells all point to missing files.

    python -m bench.roster_preview --rows 1000 [--enrolled 1000] [--format csv|xlsx] [--repeat 5] [--json OUT]

Writes a CSV (or XLSX) of `rows` people (name, external_id, group, photos, notes) into a temporary folder, each
row's photo a file that does not exist, and times `Rollcall.preview_roster` on a fresh temporary database
(with `enrolled` people already in it, the first `enrolled` rows are theirs: updates). Nothing is
written by a preview. Target: within 2 s for 1,000 rows. Prints the times and how many rows were flagged
(skipped or warned).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import print_result
from core.register.sheets import Sheet, write_sheet
from core.service import Rollcall

TARGET_S = 2.0


def write_list(path: Path, rows: int) -> Path:
    """The list as CSV or XLSX (by the suffix), written as Rollcall writes its own sheets."""
    table = [(f"Student {i:05d}", f"S{i:05d}", f"Class {i % 30:02d}; Year {i % 6 + 7}",
              f"photos/missing-{i:05d}.jpg", "" if i % 7 else "allergies") for i in range(rows)]
    return write_sheet(Sheet("Class list", ("Name", "External ID", "Group", "Photos", "Notes"), table), path)


def add_people(service: Rollcall, count: int) -> None:
    """`count` people of the list (the first rows' External IDs) enrolled before, without photos."""
    with service.db.transaction() as conn:
        for i in range(count):
            service.gallery.insert_person(conn, f"Student {i:05d}", f"S{i:05d}", [f"Class {i % 30:02d}"], "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--enrolled", type=int, default=0, help="people of the list already in the database")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv", help="the class list's file type")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result: dict = {"machine": {"platform": platform.platform()}, "rows": args.rows, "enrolled": args.enrolled,
                    "format": args.format}
    with tempfile.TemporaryDirectory(prefix="rollcall-roster-") as tmp:
        path = write_list(Path(tmp) / f"class-list.{args.format}", args.rows)
        with Rollcall.open(Path(tmp) / "roster.db") as service:
            add_people(service, args.enrolled)
            times, preview = [], None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                preview = service.preview_roster(path)
                times.append(time.perf_counter() - t0)
    flagged = [r for r in preview.rows if r.problems or r.warnings]
    result.update({
        "preview_s": {"first": round(times[0], 3), "median": round(statistics.median(times), 3),
                      "max": round(max(times), 3)},
        "target_s": TARGET_S,
        "met": max(times) <= TARGET_S,
        "rows_flagged": len(flagged),
        "skipped": preview.count("skip"),
        "summary": preview.summary(),
    })
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
