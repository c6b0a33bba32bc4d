"""The thread policy: how many CPU threads torch uses in each kind of Rollcall process, and that idle ones sleep.

Two settings, both process-wide:

- OpenMP waiting. Left alone, torch's OpenMP threads spin for a while after each parallel region; on a
  CPU shared with other work the spinning threads take the cores the working ones need, and a frame
  takes several times longer (docs/BENCHMARKS.md, "Thread policy"). OMP_WAIT_POLICY=PASSIVE makes them
  sleep instead. OpenMP reads it once, when torch loads it: `prefer_passive_waiting()` must run before
  anything imports torch, so each entry point (core.cli, desktop, trainer) calls it first thing.
- Intra-op threads per kind of process (`apply_thread_policy(kind)`, after startup): torch's count is
  one per process, shared by all its threads, so the desktop app's live worker and its background
  tasks share the "live" count.

The operator overrides the count with ROLLCALL_THREADS (or the standard OMP_NUM_THREADS) and the waiting
with OMP_WAIT_POLICY. ONNX Runtime sessions take the same count, and sleep too
(core.vision.models.onnx_backend.session_options).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

logger = logging.getLogger(__name__)

WAIT_POLICY = "PASSIVE"
THREADS_ENV = "ROLLCALL_THREADS"
KINDS = ("live", "batch", "trainer")

# Whether torch was already loaded when prefer_passive_waiting() first ran (then the policy came too late).
torch_loaded_before_policy: bool | None = None
_applied: tuple[str, int, str] | None = None


def prefer_passive_waiting() -> bool:
    """Have idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) unless the operator chose otherwise.
    Returns False when torch was loaded already, so the setting comes too late for this process."""
    global torch_loaded_before_policy
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    late = "torch" in sys.modules
    if torch_loaded_before_policy is None:
        torch_loaded_before_policy = late
    return not late


def default_threads(kind: str, cpus: int | None) -> int:
    """Rollcall's intra-op thread count for `kind` on a machine with `cpus` CPUs (None: unknown, taken as 1).

    live: half the CPUs, 1 to 2. Its batches are one frame's faces, and the camera, the interface and
      the database need the rest. On 2 CPUs, bench.threads found 1 and 2 threads equal per frame
      (quiet or loaded, idle threads sleeping) and 1 faster for a single face: 1 there.
    batch: every CPU (command-line enrolment, identification and evaluation, which run alone).
    trainer: every CPU but one, which is left to the app that started it and may be recognising.
    """
    cpus = max(1, cpus or 1)
    if kind == "live":
        return max(1, min(2, cpus // 2))
    if kind == "batch":
        return cpus
    if kind == "trainer":
        return max(1, cpus - 1)
    raise ValueError(f"unknown kind of process '{kind}' (known: {', '.join(KINDS)})")


def thread_count(kind: str, environ: Mapping[str, str] | None = None, cpus: int | None = None) -> tuple[int, str]:
    """(threads, where the number came from) for `kind`: ROLLCALL_THREADS, else OMP_NUM_THREADS, else
    default_threads(kind, cpus). A value that is not a whole number above 0 is ignored, with a warning."""
    environ = os.environ if environ is None else environ
    cpus = os.cpu_count() if cpus is None else cpus
    default = default_threads(kind, cpus)
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        text = environ.get(name, "").strip()
        if not text:
            continue
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value >= 1:
            return value, name
        logger.warning("%s=%r is not a whole number of threads above 0; ignored (set it to e.g. 1 or 2, "
                       "or unset it for Rollcall's default)", name, text)
    return default, f"default for {kind} on {max(1, cpus or 1)} CPUs"


def apply_thread_policy(kind: str) -> int:
    """Set torch's intra-op threads for this kind of process (and one inter-op thread, where torch still
    allows it); logs the policy at INFO when it changes. Returns the thread count."""
    global _applied
    import torch

    threads, source = thread_count(kind)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started: torch allows it once, early
        logger.debug("torch inter-op threads left at %d", torch.get_num_interop_threads())
    wait = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    if _applied != (kind, threads, wait):
        _applied = (kind, threads, wait)
        late = " (set after torch loaded: not in effect)" if torch_loaded_before_policy else ""
        logger.info("thread policy: %s process, %d torch thread(s) (%s), OMP_WAIT_POLICY=%s%s",
                    kind, threads, source, wait, late)
    return threads
