"""The CLI on hostile input: every failure is one `error: ...` line on stderr with exit code 2, never a
traceback; progress reaches a log as plain periodic lines. The bad inputs are made at test time."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import core.cli.engine_cmds
from core.cli import main
from core.cli.console import Progress
from core.cli.failures import describe_os_error, log_file
from core.cli.register_cmds import _progress_lines

REPO = Path(__file__).resolve().parents[2]


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """main() in this process; argparse's usage errors (SystemExit) become their exit code."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "rollcall.db")


def test_the_testers_case_evaluate_on_an_empty_folder(tmp_path: Path) -> None:
    """`rollcall evaluate EMPTY_FOLDER --enroll-per-subject 3` as a process: exit 2, one error line."""
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "core.cli", "evaluate", str(empty), "--enroll-per-subject", "3"],
                          capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: ") and "one sub-folder of photos per person" in done.stderr


def _dataset(root: Path, per_person: int) -> Path:
    for person in ("ada", "grace"):
        (root / person).mkdir(parents=True)
        for i in range(per_person):
            (root / person / f"{i}.jpg").write_bytes(b"not decoded before the check")
    return root


@pytest.mark.parametrize("case", ["missing", "a file", "no subject folders", "too few images", "one image each"])
def test_evaluate_refuses_a_wrong_dataset_folder(tmp_path: Path, capsys, monkeypatch, case: str) -> None:
    monkeypatch.setattr(core.cli.engine_cmds.Context, "standalone_pipeline",
                        lambda self: pytest.fail("the folder must be refused before any model loads"))
    target, expected = {
        "missing": (tmp_path / "nowhere", "no such folder"),
        "a file": (tmp_path / "list.csv", "not a folder"),
        "no subject folders": (tmp_path / "flat", "no sub-folders with images"),
        "too few images": (_dataset(tmp_path / "few", 3), "lower --enroll-per-subject to 2"),
        "one image each": (_dataset(tmp_path / "one", 1), "add photos"),
    }[case]
    if case == "a file":
        target.write_text("name\n")
    if case == "no subject folders":
        target.mkdir()
        (target / "photo.jpg").write_bytes(b"x")
    code, _, err = run_main(capsys, "evaluate", str(target), "--enroll-per-subject", "3")
    assert code == 2
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["evaluate", ".", "--enroll-per-subject", "0"],
    ["evaluate", ".", "--enroll-per-subject", "-1"],
    ["evaluate", ".", "--enroll-per-subject", "three"],
    ["evaluate", ".", "--jitters", "-2"],
    ["identify", "x.jpg", "--threshold", "nan"],
    ["identify", "x.jpg", "--threshold", "7"],
    ["identify", "x.jpg", "--margin", "-0.1"],
    ["run", "--source", "0", "--session", "s", "-k", "0"],
    ["run", "--source", "0", "--session", "s", "--max-frames", "-3"],
    ["run", "--source", "0", "--session", "s", "--max-seconds", "inf"],
    ["run", "--source", "0", "--session", "s", "--retention-days", "-5"],
    ["calibrate", "--target-far", "5"],
    ["enroll", "Ada", "a.jpg", "--face", "0"],
])
def test_bad_numbers_are_usage_errors(capsys, db: str, argv: list[str]) -> None:
    code, _, err = run_main(capsys, "--db", db, *argv)
    assert code == 2
    assert "error: argument" in err
    assert not Path(db).exists()  # refused before the database is opened


def test_run_with_k_above_n_changes_nothing(capsys, db: str, tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "--db", db, "run", "--source", "0", "--session", "s", "-k", "9", "-n", "5")
    assert code == 2 and "1 <= K <= N" in err
    assert not Path(db).exists()  # no session was started


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_run_refuses_a_missing_video_before_starting_a_session(capsys, db: str, tmp_path: Path, kind: str) -> None:
    source = tmp_path / ("clip.mp4" if kind == "missing" else "clips")
    if kind == "folder":
        source.mkdir()
    code, _, err = run_main(capsys, "--db", db, "run", "--source", str(source), "--session", "Monday")
    assert code == 2 and err.startswith("error: ") and str(source) in err
    assert ("no such video file" if kind == "missing" else "a folder, not a video") in err
    assert not Path(db).exists()


@pytest.mark.parametrize("kind", ["missing", "empty folder", "folder named like a photo"])
def test_identify_refuses_a_target_without_images(capsys, db: str, tmp_path: Path, kind: str) -> None:
    target = {"missing": tmp_path / "gone.jpg", "empty folder": tmp_path / "photos",
              "folder named like a photo": tmp_path / "photo.jpg"}[kind]
    if kind != "missing":
        target.mkdir()
        (target / "notes.txt").write_text("no images here")
    code, _, err = run_main(capsys, "--db", db, "identify", str(target))
    assert code == 2 and err.startswith("error: ") and str(target) in err
    assert ("no such file or folder" if kind == "missing" else "has no images") in err


def test_evaluate_json_into_a_folder_is_refused(capsys, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    code, _, err = run_main(capsys, "evaluate", str(_dataset(tmp_path / "d", 5)), "--json", str(tmp_path / "out"))
    assert code == 2 and "Give --json a file name" in err


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01binary", b""], ids=["binary", "empty"])
def test_roster_preview_of_a_file_that_is_no_class_list(capsys, db: str, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "class.csv"
    path.write_bytes(content)
    code, _, err = run_main(capsys, "--db", db, "roster", "preview", str(path))
    assert code == 2 and err.startswith("error: ")


def test_roster_preview_of_a_folder(capsys, db: str, tmp_path: Path) -> None:
    folder = tmp_path / "class.csv"
    folder.mkdir()
    code, _, err = run_main(capsys, "--db", db, "roster", "preview", str(folder))
    assert code == 2 and err.startswith("error: ")


def test_an_unexpected_failure_is_one_line_and_the_traceback_goes_to_the_log(capsys, db: str, monkeypatch) -> None:
    def explode(ctx, args):  # noqa: ANN001
        raise RuntimeError("the flux capacitor\nis empty")

    import core.cli

    monkeypatch.setattr(core.cli, "cmd_faces", explode)
    code, _, err = run_main(capsys, "--db", db, "faces", "a.jpg")
    assert code == 2
    assert err == f"error: unexpected RuntimeError: the flux capacitor is empty (details in {log_file()})\n"
    logged = log_file().read_text()
    assert "Traceback" in logged and "explode" in logged and "faces a.jpg" in logged


@pytest.mark.parametrize("exc, words", [
    (PermissionError(13, "Permission denied", "/srv/out.xlsx"), "Permission denied: /srv/out.xlsx. Check its"),
    (IsADirectoryError(21, "Is a directory", "/srv/out"), "It is a folder: give a file."),
    (OSError(28, "No space left on device", "/srv/out.csv"), "The disk is full"),
    (FileNotFoundError(2, "No such file or directory", "/srv/x"), "No such file or directory: /srv/x. Check the path"),
])
def test_file_system_errors_are_explained(capsys, db: str, monkeypatch, exc: OSError, words: str) -> None:
    import core.cli

    def fail(ctx, args):  # noqa: ANN001
        raise exc

    monkeypatch.setattr(core.cli, "cmd_faces", fail)
    code, _, err = run_main(capsys, "--db", db, "faces", "a.jpg")
    assert code == 2 and err.startswith("error: ") and words in err
    assert describe_os_error(exc) in err


def test_ctrl_c_outside_a_run_is_exit_130_without_a_traceback(capsys, db: str, monkeypatch) -> None:
    import core.cli

    def interrupted(ctx, args):  # noqa: ANN001
        raise KeyboardInterrupt

    monkeypatch.setattr(core.cli, "cmd_faces", interrupted)
    code, _, err = run_main(capsys, "--db", db, "faces", "a.jpg")
    assert code == 130 and "interrupted" in err


# ---------------------------------------------------------------------- progress into a log or pipe


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_into_a_pipe_is_a_line_at_most_every_interval() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress("evaluating", stream=stream, clock=clock, interval=10.0)
    assert not progress.tty
    progress(0, 100)  # the start
    for done in range(1, 100):
        clock.now += 0.5  # 2 images a second: a line every 20 images
        progress(done, 100)
    clock.now += 0.5
    progress(100, 100)
    progress(100, 100)  # a second "done" adds nothing
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "evaluating: 0/100 (0%), -/s"
    assert lines[1] == "evaluating: 20/100 (20%), 2.0/s, 0:40 left"
    assert lines[-1] == "evaluating: 100/100 done in 0:50 (2.0/s)"
    assert len(lines) == 1 + 4 + 1  # start, every 10 s (20, 40, 60, 80), end


def test_progress_with_an_unknown_total_counts_and_gives_the_rate() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress("frames", stream=stream, clock=clock, interval=10.0)
    for frame in range(1, 61):
        clock.now += 0.5
        progress(frame, 0)
    assert stream.getvalue().splitlines() == ["frames: 1 done, 2.0/s, 0:00 elapsed", "frames: 21 done, 2.0/s, 0:10 elapsed",
                                              "frames: 41 done, 2.0/s, 0:20 elapsed"]


def test_progress_at_a_terminal_redraws_one_line() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream, clock = Terminal(), FakeClock()
    progress = Progress("checking", width=10, stream=stream, clock=clock)
    progress(0, 4)
    clock.now += 1
    progress(2, 4)
    clock.now += 1
    progress(4, 4)
    assert stream.getvalue().endswith("\rchecking [##########] 4/4 0:00 left\n")
    assert stream.getvalue().count("\n") == 1


def test_bulk_enrolment_progress_into_a_log() -> None:
    """enroll-folder and roster import: into a log, periodic lines instead of one per person."""
    stream, clock = io.StringIO(), FakeClock()
    progress = _progress_lines(stream, clock)
    progress(0, 300, "")
    for done in range(1, 300):
        clock.now += 0.125
        progress(done, 300, f"person {done // 5}")
    clock.now += 0.125
    progress(300, 300, "person 59")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("photos checked: 0/300") and lines[-1].startswith("photos checked: 300/300 done")
    assert lines[1] == "photos checked: 80/300 (26%), 8.0/s, 0:27 left"
    assert len(lines) == 1 + 3 + 1  # start, at 10, 20 and 30 s, end
