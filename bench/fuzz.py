"""Seeded fuzzing of hostile input (issue 16) under a watchdog.

    python -m bench.fuzz --cases 10000 --json [--seed S] [--timeout 5] [--max-growth-mb 500]
    python -m bench.fuzz --replay INDEX [--seed S] [--kind K --no-large]   # one case here, with its traceback

The cases (bench.fuzz_cases) run in a worker process, one at a time. Each must return or raise a
RollcallError; any other exception is a crash. A case still running after --timeout seconds is a hang, and
one that takes the worker's resident memory more than --max-growth-mb above what it held when ready is
over memory: either way the worker is killed and a new one started (so is one that dies). Printed: the
counts (ok, refused, crashes, hangs, over memory, worker deaths, and cases the harness could not make),
the same per kind, the traceback of each distinct crash (with its first case), and the worker's largest RSS.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))
POLL_S = 0.05


def rss_of(pid: int) -> float:
    """Resident memory of process `pid` in MB (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


# ---------------------------------------------------------------------- the worker


def worker(seed: int) -> None:
    """Read case indices from stdin, answer one JSON line each on the original stdout. Libraries' own chatter
    (decoders' errors, torch's warnings) goes to /dev/null."""
    import warnings

    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    warnings.simplefilter("ignore")
    import torch

    from bench.fuzz_cases import FuzzEnv, case_kind, run_case

    torch.set_num_threads(1)
    env = FuzzEnv(shared=SHARED if SHARED.is_dir() else None)
    from bench import fuzz_images, fuzz_models

    env.once("image_bases", lambda: fuzz_images.encoded_bases(fuzz_images.synthetic_image()))
    env.once("face_bases", lambda: fuzz_images._face_bases(env))
    env.once("model_bases", fuzz_models._bases)
    env.once("large_bases", fuzz_images.large_bases)
    _ = env.enroller  # builds the pipeline now, not inside the first enrolment case's time
    out.write(json.dumps({"ready": True}) + "\n")
    try:
        for line in sys.stdin:
            try:
                answer = run_case(seed, int(line), env).__dict__
            except Exception:  # noqa: BLE001 - the case could not be made: a bug of the harness, not a finding
                answer = {"index": int(line), "kind": case_kind(seed, int(line)), "label": "", "result": "harness",
                          "detail": traceback.format_exc(limit=8)}
            out.write(json.dumps({**answer, "rss_mb": round(rss_of(os.getpid()), 1)}) + "\n")
    finally:
        env.close()


# ---------------------------------------------------------------------- the watchdog


class Worker:
    def __init__(self, seed: int) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.fuzz", "--worker", "--seed", str(seed)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env=env,
                                     start_new_session=True)
        self._buf = b""
        self.max_rss = 0.0
        ready = self.answer(timeout=300.0, limit_mb=None)
        if not (isinstance(ready, dict) and ready.get("ready")):
            raise SystemExit(f"the fuzz worker did not start ({ready})")
        self.ready_rss = rss_of(self.proc.pid)

    def send(self, index: int) -> None:
        self.proc.stdin.write(f"{index}\n".encode())
        self.proc.stdin.flush()

    def answer(self, timeout: float, limit_mb: float | None) -> dict | str:
        """The next JSON line; "hang", "memory" or "died" when there is none."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                return "hang"
            rss = rss_of(self.proc.pid)
            self.max_rss = max(self.max_rss, rss)
            if limit_mb is not None and rss > limit_mb:
                return "memory"
            readable, _, _ = select.select([fd], [], [], POLL_S)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return "died"
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


def fuzz(seed: int, cases: int, timeout: float, max_growth_mb: float, start: int = 0) -> dict:
    from bench.fuzz_cases import case_kind

    counts: collections.Counter = collections.Counter()
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    crashes: dict[str, dict] = {}  # the last line of the traceback -> the first case that gave it
    trouble: list[dict] = []
    started = time.monotonic()
    work = Worker(seed)
    max_rss, ready_rss, max_growth = work.max_rss, work.ready_rss, 0.0
    slowest: list[tuple[float, int, str, str]] = []  # (seconds, index, kind, label)
    for index in range(start, start + cases):
        work.send(index)
        t0 = time.monotonic()
        got = work.answer(timeout, work.ready_rss + max_growth_mb)
        took = time.monotonic() - t0
        max_rss = max(max_rss, work.max_rss)
        max_growth = max(max_growth, work.max_rss - work.ready_rss)
        if isinstance(got, dict):
            slowest = sorted(slowest + [(took, index, got["kind"], got["label"][:120])], reverse=True)[:5]
        if isinstance(got, dict):
            result, kind = got["result"], got["kind"]
            if result in ("crash", "harness"):
                key = got["detail"].strip().splitlines()[-1][:200]
                crashes.setdefault(key, {"index": index, "kind": kind, "label": got["label"], "count": 0,
                                         "traceback": got["detail"]})["count"] += 1
        else:
            result, kind = got, case_kind(seed, index)
            code = work.proc.poll()
            trouble.append({"index": index, "kind": kind, "what": got, "exit": code})
            work.kill()
            work = Worker(seed)
        counts[result] += 1
        by_kind[kind][result] += 1
    work.close()
    return {
        "seed": seed, "cases": cases, "first_index": start, "timeout_s": timeout, "max_growth_mb": max_growth_mb,
        "counts": {k: counts.get(k, 0) for k in ("ok", "refused", "crash", "hang", "memory", "died", "harness")},
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "distinct_crashes": len(crashes), "crashes": list(crashes.values()), "hangs_memory_deaths": trouble,
        "worker_ready_rss_mb": round(ready_rss, 1), "max_worker_rss_mb": round(max_rss, 1),
        "max_growth_over_ready_mb": round(max_growth, 1),
        "slowest_cases": [{"s": round(t, 2), "index": i, "kind": k, "label": lab} for t, i, k, lab in slowest],
        "wall_s": round(time.monotonic() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }


def replay(seed: int, index: int, kind: str | None, large: bool) -> int:
    from bench.fuzz_cases import FuzzEnv, run_case

    env = FuzzEnv(shared=SHARED if SHARED.is_dir() else None, large=large)
    try:
        outcome = run_case(seed, index, env, kind)
    finally:
        env.close()
    print(f"case {index} ({outcome.kind}): {outcome.label}\n{outcome.result}: {outcome.detail}")
    return 1 if outcome.result == "crash" else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="the first case index")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a case may take")
    parser.add_argument("--max-growth-mb", type=float, default=500.0, help="RSS a case may add to the worker")
    parser.add_argument("--replay", type=int, default=None, metavar="INDEX", help="run one case here")
    parser.add_argument("--kind", default=None, help="with --replay: make the case of this kind (as the suite does)")
    parser.add_argument("--no-large", action="store_true", help="with --replay: no photos of up to 81 MP (the suite's)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.seed)
        return 0
    if args.replay is not None:
        return replay(args.seed, args.replay, args.kind, not args.no_large)
    result = fuzz(args.seed, args.cases, args.timeout, args.max_growth_mb, args.start)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "crashes"}, indent=1))
        for crash in result["crashes"][:5]:
            print(f"--- case {crash['index']} ({crash['kind']}, {crash['count']}x): {crash['label']}\n"
                  f"{crash['traceback']}")
    counts = result["counts"]
    return 1 if any(counts[k] for k in ("crash", "hang", "memory", "died", "harness")) else 0


if __name__ == "__main__":
    sys.exit(main())
