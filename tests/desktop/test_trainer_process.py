"""The trainer's command line: `python -m trainer` from source, the bundled rollcall-train executable
beside the app's own in a frozen (PyInstaller) build. A real child is run in test_training_page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop import trainer_process
from trainer import exit_codes
from desktop.trainer_process import (
    REPO_ROOT,
    train_dsr_command,
    trainer_command,
    trainer_workdir,
)


@pytest.fixture
def from_source(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)


@pytest.fixture
def frozen(monkeypatch, tmp_path) -> Path:
    """A pretend bundle: sys.frozen set, sys.executable = BUNDLE/Rollcall[.exe]; returns BUNDLE."""
    bundle = tmp_path / "dist" / "Rollcall"
    bundle.mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle / "Rollcall"))
    return bundle.resolve()


def test_from_source_the_trainer_is_this_interpreter_with_dash_m(from_source, tmp_path):
    run = tmp_path / "run"
    assert trainer_command() == [sys.executable, "-m", "trainer"]
    assert train_dsr_command(run) == [sys.executable, "-m", "trainer", "train-dsr",
                                      "--config", str(run / "config.yaml"), "--out", str(run)]
    assert train_dsr_command(run, resume=True, max_minutes=2.5) == [
        sys.executable, "-m", "trainer", "train-dsr", "--resume", str(run), "--max-minutes", "2.5"]
    assert trainer_workdir() == REPO_ROOT


def test_from_source_the_command_really_starts_the_trainer(from_source):
    done = subprocess.run([*trainer_command(), "--help"], cwd=trainer_workdir(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "train-dsr" in done.stdout


def test_frozen_the_trainer_is_the_bundled_executable_beside_the_app(frozen, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    run = tmp_path / "run"
    exe = str(frozen / "rollcall-train")
    assert trainer_command() == [exe]
    assert train_dsr_command(run) == [exe, "train-dsr", "--config", str(run / "config.yaml"), "--out", str(run)]
    assert train_dsr_command(run, resume=True, max_minutes=10) == [
        exe, "train-dsr", "--resume", str(run), "--max-minutes", "10"]
    assert "-m" not in train_dsr_command(run)
    assert trainer_workdir() == frozen  # not the bundle's _internal folder


def test_frozen_on_windows_the_trainer_is_rollcall_train_exe(frozen, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert train_dsr_command(tmp_path / "run")[0] == str(frozen / "rollcall-train.exe")


def test_the_trainer_name_matches_the_executable_build_spec_makes():
    spec = (REPO_ROOT / "build.spec").read_text(encoding="utf-8")
    assert f'name="{trainer_process.TRAINER_EXE}"' in spec
    assert 'name="Rollcall"' in spec


def test_a_job_stopped_on_request_exits_with_the_code_the_app_reads_as_stopped(tiny_faces, tmp_path, monkeypatch):
    """The trainer's exit code of a stopped job (`sys.exit(main())`) is the one the Training tab calls stopped."""
    import json

    import trainer.__main__ as trainer_main

    class StoppedAtOnce(trainer_main.StopRequest):
        def __init__(self) -> None:
            super().__init__()
            self.set("test")

    monkeypatch.setattr(trainer_main, "StopRequest", StoppedAtOnce)
    config = tmp_path / "build.json"
    config.write_text(json.dumps({"data": str(tiny_faces), "find_faces": False}))
    code = trainer_main.main(["build-dataset", "--config", str(config), "--out", str(tmp_path / "run"), "--no-stdin"])
    assert code == exit_codes.EXIT_STOPPED and exit_codes.EXIT_MEANINGS[code] == "stopped on request"
    assert trainer_main.main(["no-such-job"]) == exit_codes.EXIT_USAGE
