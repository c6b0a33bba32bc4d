"""The trainer as a child process (`python -m trainer ...`, or the bundled `rollcall-train` executable
in a frozen build), read as a stream of JSON-line events.

`TrainerProcess` wraps a QProcess: every complete stdout line goes through
`trainer.events.parse_event` and comes out as `event` (a parsed event) or
`bad_line` (the line and why it is not an event); stderr lines come out as
`log_line` (as do events of a kind this app does not know: a newer trainer's).
Nothing here interprets free text. `stop()` asks the child to stop the ways the
trainer documents (the run folder's STOP file, which works on Windows too, and
"stop" on stdin; it saves a resumable checkpoint), then terminates it after a
grace period and kills it after a second one. `ended` fires once per run with the exit code (or -1) and a
description of a crash ('' for a normal exit).
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from core.paths import user_data_dir
from trainer.config import CONFIG_FILENAME, JOB_CONFIGS, save_config
from trainer.events import EventError, UnknownEventKind, parse_event
from trainer.exit_codes import STOP_FILENAME

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINER_EXE = "rollcall-train"  # build.spec's console executable, beside the app's executable
DSR_JOB, FINETUNE_JOB = "train-dsr", "finetune"
HIDE_CONSOLE_ENV = "ROLLCALL_HIDE_CONSOLE"  # tells a frozen Windows trainer to drop its console window
CREATE_NO_WINDOW = 0x08000000  # Windows process creation flag


def is_frozen() -> bool:
    """True in a PyInstaller bundle (dist/Rollcall/)."""
    return bool(getattr(sys, "frozen", False))


def trainer_command() -> list[str]:
    """The program (and its first arguments) that runs `rollcall-train`: the bundled executable beside
    the app's own when frozen, else this interpreter with `-m trainer`."""
    if is_frozen():
        name = TRAINER_EXE + (".exe" if sys.platform == "win32" else "")
        return [str(Path(sys.executable).resolve().parent / name)]
    return [sys.executable, "-m", "trainer"]


def trainer_workdir() -> Path:
    """The trainer's working folder: the checkout from source, the bundle folder when frozen (the
    trainer writes only where --out says)."""
    return Path(sys.executable).resolve().parent if is_frozen() else REPO_ROOT


def default_run_dir(now: _dt.datetime | None = None) -> Path:
    """user_data_dir()/training/YYYYmmdd-HHMMSS."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return user_data_dir() / "training" / stamp


def write_job_config(job: str, run_dir: str | Path, values: dict) -> Path:
    """Validate the config of a trainer job (ConfigError says what is wrong) and write it, defaults
    included, to RUN_DIR/config.yaml. Returns the file."""
    config = JOB_CONFIGS[job].from_dict(dict(values), origin="training settings")
    return save_config(config, run_dir)


def write_dsr_config(run_dir: str | Path, values: dict) -> Path:
    """write_job_config for train-dsr."""
    return write_job_config(DSR_JOB, run_dir, values)


def write_finetune_config(run_dir: str | Path, values: dict) -> Path:
    """write_job_config for finetune (recognition-model fine-tuning)."""
    return write_job_config(FINETUNE_JOB, run_dir, values)


def job_command(job: str, run_dir: str | Path, resume: bool = False, max_minutes: float | None = None) -> list[str]:
    """The command line (program first) that starts, or resumes, a run of trainer job JOB in RUN_DIR."""
    run_dir = str(run_dir)
    args = [*trainer_command(), job]
    if resume:
        args += ["--resume", run_dir]
    else:
        args += ["--config", str(Path(run_dir) / CONFIG_FILENAME), "--out", run_dir]
    if max_minutes:
        args += ["--max-minutes", f"{max_minutes:g}"]
    return args


def train_dsr_command(run_dir: str | Path, resume: bool = False, max_minutes: float | None = None) -> list[str]:
    """job_command for train-dsr."""
    return job_command(DSR_JOB, run_dir, resume, max_minutes)


def finetune_command(run_dir: str | Path, resume: bool = False, max_minutes: float | None = None) -> list[str]:
    """job_command for finetune."""
    return job_command(FINETUNE_JOB, run_dir, resume, max_minutes)


def _hide_console_window(proc: QProcess) -> None:
    """Windows: start the console trainer without a console window of its own (a windowed app has no
    console for it to share). Where this PySide6 does not offer the modifier, the frozen trainer frees
    its console itself on start (HIDE_CONSOLE_ENV, packaging/rollcall_train.py)."""
    setter = getattr(proc, "setCreateProcessArgumentsModifier", None)
    if setter is None:
        return

    def modify(args) -> None:
        if hasattr(args, "flags"):
            args.flags = int(args.flags) | CREATE_NO_WINDOW

    try:
        setter(modify)
    except Exception as exc:  # noqa: BLE001 - a binding without it: the trainer frees its console instead
        logger.debug("cannot set the trainer's process creation flags: %s", exc)


class TrainerProcess(QObject):
    event = Signal(object)  # a parsed trainer event
    bad_line = Signal(str, str)  # the stdout line, why it is not an event
    log_line = Signal(str)  # one stderr line
    ended = Signal(int, str)  # exit code (-1: no code), crash description ('' for a normal exit)

    def __init__(self, parent: QObject | None = None, grace_ms: int = 15000) -> None:
        super().__init__(parent)
        self.grace_ms = grace_ms
        self._proc: QProcess | None = None
        self._out = b""
        self._err = b""
        self._ended = True
        self.stop_requested = False
        self.stop_file: Path | None = None
        self._terminate_timer = QTimer(self, singleShot=True)
        self._terminate_timer.timeout.connect(self._terminate)
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self._kill)

    # ------------------------------------------------------------------ control

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def start(self, command: list[str], cwd: str | Path | None = None, run_dir: str | Path | None = None) -> None:
        """Start `command` (program first) for the run in `run_dir` (where a stop file asks it to stop).
        Only one child at a time."""
        if self.is_running():
            raise RuntimeError("a trainer process is already running")
        self._drop_process()
        self._out, self._err = b"", b""
        self._ended = False
        self.stop_requested = False
        self.stop_file = Path(run_dir) / STOP_FILENAME if run_dir is not None else None
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        if sys.platform == "win32":
            env.insert(HIDE_CONSOLE_ENV, "1")
            _hide_console_window(proc)
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(cwd or trainer_workdir()))
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        proc.start(command[0], command[1:])

    def stop(self) -> None:
        """Ask the child to stop ('stop' on stdin: it saves last.pt), terminate after the grace period."""
        if not self.is_running():
            return
        self.stop_requested = True
        self._ask_to_stop(self._proc)
        self._terminate_timer.start(self.grace_ms)

    def kill_now(self, wait_ms: int = 3000) -> None:
        """For shutdown: stop at once, waiting at most `wait_ms` for the child to save and exit."""
        if not self.is_running():
            return
        self.stop_requested = True
        proc = self._proc
        self._ask_to_stop(proc)
        proc.waitForBytesWritten(500)
        if not proc.waitForFinished(wait_ms):
            proc.terminate()
            if not proc.waitForFinished(1000):
                proc.kill()
                proc.waitForFinished(1000)

    # ------------------------------------------------------------------ internals

    def _ask_to_stop(self, proc: QProcess) -> None:
        """The stop file (the trainer checks it after every image and batch) and the stdin line."""
        if self.stop_file is not None:
            try:
                self.stop_file.touch()
            except OSError as exc:  # the stdin line still asks
                self.log_line.emit(f"[desktop] cannot write the stop file {self.stop_file}: {exc}")
        proc.write(b"stop\n")

    def _terminate(self) -> None:
        if self.is_running():
            self.log_line.emit(f"[desktop] the trainer did not stop within {self.grace_ms / 1000:g} s; terminating it")
            self._proc.terminate()
            self._kill_timer.start(max(1000, self.grace_ms // 3))

    def _kill(self) -> None:
        if self.is_running():
            self.log_line.emit("[desktop] the trainer did not exit after SIGTERM; killing it")
            self._proc.kill()

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._out += bytes(self._proc.readAllStandardOutput())
        *lines, self._out = self._out.split(b"\n")
        for raw in lines:
            self._handle_stdout(raw)

    def _handle_stdout(self, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            event = parse_event(raw)
        except UnknownEventKind as exc:  # a newer trainer's addition: not a broken stream
            self.log_line.emit(f"[desktop] event skipped: {exc}")
            return
        except EventError as exc:
            self.bad_line.emit(raw.decode("utf-8", "replace")[:500], str(exc))
            return
        self.event.emit(event)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        self._err += bytes(self._proc.readAllStandardError())
        *lines, self._err = self._err.split(b"\n")
        for raw in lines:
            self.log_line.emit(raw.decode("utf-8", "replace").rstrip("\r"))

    def _flush(self) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._out.strip():
            self._handle_stdout(self._out)
        if self._err.strip():
            self.log_line.emit(self._err.decode("utf-8", "replace"))
        self._out, self._err = b"", b""

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._terminate_timer.stop()
        self._kill_timer.stop()
        self._flush()
        if status == QProcess.ExitStatus.CrashExit:
            self._end(-1, "the trainer process crashed (killed by a signal)" if not self.stop_requested else "")
        else:
            self._end(code, "")

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            program = self._proc.program() if self._proc is not None else "?"
            self._end(-1, f"the trainer could not be started ({program}): "
                          f"{self._proc.errorString() if self._proc is not None else error}")
        # Crashed is followed by finished(); read/write errors are not fatal on their own.

    def _end(self, code: int, problem: str) -> None:
        if self._ended:
            return
        self._ended = True
        self.ended.emit(code, problem)

    def _drop_process(self) -> None:
        if self._proc is not None:
            self._proc.deleteLater()
            self._proc = None
