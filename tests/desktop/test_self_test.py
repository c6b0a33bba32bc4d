"""`rollcall-desk --self-test [IMAGE]` from source: the JSON verdict, the exit code, the named file when
the image is broken, and the message when a model file is missing from a bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ModelPackageMissingError
from desktop import self_test
from desktop.self_test import SelfTest, synthetic_face
from tests.conftest import REPO, shared_path

CHECKS = ["models", "detector", "embedder", "database", "recognition", "video", "qt", "trainer"]


def run_cli(*args: str) -> tuple[int, dict, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "desktop", "--self-test", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    try:
        verdict = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"stdout is not one JSON object (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.returncode, verdict, done.stderr


@pytest.mark.slow
def test_a_photo_of_one_person_passes_every_check(tmp_path):
    photo = shared_path("faces", "misc", "biden.jpg")
    report = tmp_path / "report" / "self-test.json"
    code, verdict, stderr = run_cli(str(photo), "--data-dir", str(tmp_path / "data"), "--report", str(report))
    assert code == 0, json.dumps(verdict, indent=1) + stderr
    assert verdict["ok"] is True
    assert list(verdict["checks"]) == CHECKS
    for name, check in verdict["checks"].items():
        assert check["ok"] is True, (name, check)
        assert check["time_s"] >= 0 and check["detail"]
    assert verdict["recognition_source"] == str(photo)
    assert str(photo) in verdict["checks"]["recognition"]["detail"]
    assert verdict["environment"]["frozen"] is False
    assert json.loads(report.read_text(encoding="utf-8")) == verdict
    assert (tmp_path / "data" / "self-test.db").is_file()  # the given data folder keeps its database


@pytest.mark.slow
def test_a_corrupt_image_fails_with_exit_1_and_names_the_file(tmp_path):
    broken = tmp_path / "broken photo.jpg"
    broken.write_bytes(shared_path("faces", "misc", "obama.jpg").read_bytes()[:300])  # a truncated JPEG
    code, verdict, _ = run_cli(str(broken))
    assert code == 1
    assert verdict["ok"] is False
    recognition = verdict["checks"]["recognition"]
    assert recognition["ok"] is False
    assert str(broken) in recognition["detail"] and "corrupt" in recognition["detail"]
    assert all(verdict["checks"][name]["ok"] for name in ("models", "detector", "embedder", "database"))


def test_the_synthetic_face_is_found_by_the_default_detector(default_pipeline):
    for size in (120, 240, 360):
        image, landmarks = synthetic_face(size)
        faces = default_pipeline.detect(image)
        assert len(faces) == 1, size
        assert abs(faces[0].landmarks - landmarks).max() < 0.08 * size  # the drawn eyes, nose, mouth


def test_without_an_image_the_synthetic_face_is_enrolled_and_recognised(tmp_path, monkeypatch):
    monkeypatch.setattr(SelfTest, "check_trainer", lambda self: "skipped in this test")  # a child process
    test = SelfTest(None, tmp_path)
    verdict = test.run()
    assert verdict["ok"] is True, verdict
    assert verdict["recognition_source"] == "synthetic"
    assert "synthetic face" in verdict["checks"]["recognition"]["detail"]
    assert "128-d" in verdict["checks"]["embedder"]["detail"]


def test_a_model_file_missing_from_a_bundle_is_named(tmp_path, monkeypatch):
    bundle = tmp_path / "_internal"
    bundle.mkdir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)

    def missing():
        raise ModelPackageMissingError("mtcnn", "MTCNN face detector weights")

    monkeypatch.setattr("core.vision.detect.mtcnn_weights.weight_files", missing)
    test = SelfTest(None, tmp_path / "data")
    check = test.run_check("models", test.check_models)
    assert check.ok is False
    assert str(bundle / "mtcnn" / "assets" / "weights" / "pnet.lz4") in check.detail
    assert "missing from this installation" in check.detail and "Reinstall Rollcall" in check.detail
    later = test.run_check("detector", test.check_detector, needs=("models",))
    assert later.ok is False and later.detail == "not run: the models check failed"


def test_the_verdict_goes_to_stdout_only(tmp_path, monkeypatch, capsys):
    def fake_run(self):
        print("a library talking")  # must not end up in the JSON on stdout
        return {"ok": False, "checks": {}}

    monkeypatch.setattr(SelfTest, "run", fake_run)
    assert self_test.run_self_test(None, tmp_path, report=tmp_path / "r.json") == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "checks": {}}
    assert "a library talking" in err
    assert json.loads(Path(tmp_path / "r.json").read_text(encoding="utf-8")) == {"ok": False, "checks": {}}
