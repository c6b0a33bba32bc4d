"""The trainer's process exit codes (and the stop file's name), defined once for the trainer's jobs and
for the desktop app that reads them (docs/TRAINER_EVENTS.md describes them to other callers)."""

from __future__ import annotations

EXIT_OK = 0  # finished: completed, early-stopped or reached its time limit
EXIT_FAILED = 1  # failed; an error event says why
EXIT_USAGE = 2  # bad command line or config
EXIT_STOPPED = 3  # stopped on request (SIGTERM/SIGINT, "stop" on stdin, RUN_DIR/STOP); resumable

STOP_FILENAME = "STOP"  # a file of this name in the run folder asks the job to stop (as SIGTERM or stdin do)

EXIT_MEANINGS = {EXIT_OK: "finished", EXIT_FAILED: "failed", EXIT_USAGE: "bad command line or config",
                 EXIT_STOPPED: "stopped on request"}
