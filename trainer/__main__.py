"""rollcall-train JOB --config FILE.yaml [--out RUN_DIR] [--resume RUN_DIR] [--max-minutes M]

Jobs: train-dsr, eval-lowres, build-dataset, finetune. Stdout carries only JSON events (docs/TRAINER_EVENTS.md);
human logs go to stderr. Exit codes: 0 finished (completed, early-stopped or time limit),
1 failed (an error event says why), 2 bad command line or config, 3 stopped on request
(SIGTERM/SIGINT, "stop" on stdin or a file RUN_DIR/STOP; resumable with --resume).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os
import sys
from pathlib import Path

from core.errors import ConfigError, RollcallError
from core.threads import apply_thread_policy
from trainer.config import CONFIG_FILENAME, JOB_CONFIGS, load_config
from trainer.events import ErrorEvent, EventWriter, Finished
from trainer.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, EXIT_USAGE
from trainer.runner import Run, StopRequest, StopRequested, TrainerError, setup_logging

logger = logging.getLogger("trainer")


def job_runner(job: str):
    if job == "train-dsr":
        from trainer.jobs import train_dsr

        return train_dsr.run
    if job == "eval-lowres":
        from trainer.jobs import eval_lowres

        return eval_lowres.run
    if job == "build-dataset":
        from trainer.jobs import build_dataset

        return build_dataset.run
    if job == "finetune":
        from trainer.jobs import finetune

        return finetune.run
    raise ConfigError(f"unknown job '{job}' (known: {', '.join(JOB_CONFIGS)})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rollcall-train", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", choices=sorted(JOB_CONFIGS))
    p.add_argument("--config", type=Path, help="YAML (or JSON) config of the job; optional with --resume")
    p.add_argument("--out", type=Path, help="run folder to create (default: runs/JOB-YYYYmmdd-HHMMSS)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt")
    p.add_argument("--max-minutes", type=float, help="stop (resumably) after this many minutes; overrides the config")
    p.add_argument("--no-stdin", action="store_true", help="do not watch stdin for 'stop'")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the problem on stderr
        return EXIT_USAGE if exc.code else EXIT_OK
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    apply_thread_policy("trainer")
    writer = EventWriter()
    stop = StopRequest()
    try:
        if args.resume:
            run_dir = args.resume
            config = load_config(args.job, run_dir / CONFIG_FILENAME)
            if args.config is not None and load_config(args.job, args.config) != config:
                raise ConfigError(f"--config {args.config} differs from the config of {run_dir}; a resumed run "
                                  f"keeps its config. Leave out --config, or start a new run with --out.")
        else:
            if args.config is None:
                raise ConfigError("--config FILE.yaml is required for a new run (or give --resume RUN_DIR)")
            config = load_config(args.job, args.config)
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            run_dir = args.out or Path("runs") / f"{args.job}-{stamp}"
        if args.max_minutes is not None:
            config = config.replace(max_minutes=args.max_minutes)
        run = Run(run_dir, config, stop=stop, resume=bool(args.resume))
        writer = run.writer
        stop.install_signal_handlers()
        if not args.no_stdin and sys.stdin is not None and not sys.stdin.isatty():
            stop.watch_stream(sys.stdin)
        return job_runner(args.job)(config, run)
    except StopRequested as stopped:  # while preparing the data: its cache stays, a resume starts at step 0
        logger.info("%s", stopped)
        writer.emit(Finished(status="stopped", step=None, elapsed_s=0.0,
                             summary={"phase": stopped.phase, "done": stopped.done, "total": stopped.total}))
        return EXIT_STOPPED
    except (ConfigError, TrainerError) as exc:
        return _fail(writer, exc, EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED)
    except RollcallError as exc:
        return _fail(writer, exc, EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - an unexpected crash still ends with an error event
        logger.exception("unexpected error")
        return _fail(writer, exc, EXIT_FAILED, f"Unexpected error: {type(exc).__name__}: {exc}. "
                                               f"The log on stderr has the details; please report it.")
    finally:
        stop.restore_signal_handlers()


def _fail(writer: EventWriter, exc: BaseException, code: int, message: str | None = None) -> int:
    message = message or str(exc)
    logger.error("%s", message)
    writer.emit(ErrorEvent(message=message, error_type=type(exc).__name__))
    writer.emit(Finished(status="failed", step=None, elapsed_s=0.0, summary={"exit_code": code}))
    return code


def exit_now(code: int) -> None:
    """End the process with `code` as soon as the output is flushed: everything the job writes is already
    complete on disk (events line by line, checkpoints atomically), and the interpreter's own teardown
    (torch's thread pools, modules) can take over a second, which a stop request should not wait for."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
