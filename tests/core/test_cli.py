"""The `rollcall` command line, end to end on a temporary database."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.vision.imageio import read_image
from tests.conftest import shared_path


@pytest.fixture
def cli(tmp_path: Path, yunet_path: Path, capsys: pytest.CaptureFixture[str]):
    """Runs `rollcall --db tmp --detector yunet ...` and returns (exit code, stdout, stderr)."""
    db = tmp_path / "cli.db"

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--db", str(db), "--detector", f"yunet:{yunet_path}", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def _video_of(image_path: Path, out: Path, frames: int = 12) -> Path:
    img = read_image(image_path)
    h, w = img.shape[:2]
    scale = 640 / max(h, w)
    img = cv2.resize(img, (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10, (img.shape[1], img.shape[0]))
    for _ in range(frames):
        writer.write(img)
    writer.release()
    return out


def test_enrol_identify_run_export_walkthrough(cli, tmp_path: Path) -> None:
    obama = [str(shared_path("faces", "knn", "train", "obama", n)) for n in ("obama.jpg", "obama2.jpg")]
    code, out, _ = cli("enroll", "Barack Obama", *obama, "--group", "US")
    assert code == 0 and "enrolled Barack Obama" in out and "2 sample(s)" in out
    code, out, _ = cli("enroll", "Joe Biden", str(shared_path("faces", "knn", "train", "biden", "biden.jpg")),
                       str(shared_path("faces", "knn", "train", "biden", "biden2.jpg")))
    assert code == 0

    code, out, _ = cli("people", "list")
    assert "Barack Obama" in out and "Joe Biden" in out

    code, out, _ = cli("identify", str(shared_path("faces", "misc", "obama3.jpg")), "--json")
    face = json.loads(out)[0]["faces"][0]
    assert code == 0 and face["name"] == "Barack Obama"
    assert 50 <= face["confidence"] <= 100 and 0.0 < face["score"] < 1.0  # the JSON keeps the raw cosine too
    code, out, _ = cli("identify", str(shared_path("faces", "misc", "obama3.jpg")))
    assert code == 0 and f"Barack Obama (confidence {face['confidence']})" in out and not re.search(r"0\.\d{3}", out)

    video = _video_of(shared_path("faces", "misc", "biden.jpg"), tmp_path / "biden.mp4")
    code, out, _ = cli("run", "--source", str(video), "--session", "Assembly")
    assert code == 0 and "marked Joe Biden (confidence " in out and "1 marked in 'Assembly'" in out

    code, out, _ = cli("session", "list")
    assert "Assembly" in out and "1 marked" in out

    code, out, _ = cli("export", "--session", "Assembly", "--out", str(tmp_path / "a.csv"))
    assert code == 0
    rows = list(csv.reader((tmp_path / "a.csv").open(encoding="utf-8-sig")))
    line = dict(zip(rows[0], rows[1]))
    assert (line["session"], line["person"], line["status"]) == ("Assembly", "Joe Biden", "present")
    assert 50 <= int(line["score"]) <= 100  # the 0-100 confidence

    code, out, _ = cli("people", "rename", "Joe Biden", "Joseph Biden")
    assert code == 0 and "renamed Joe Biden to Joseph Biden" in out
    code, out, _ = cli("people", "delete", "Joseph Biden", "--yes")
    assert code == 0
    code, out, _ = cli("export", "--session", "Assembly", "--out", str(tmp_path / "b.csv"))
    rows = list(csv.reader((tmp_path / "b.csv").open(encoding="utf-8-sig")))
    assert rows[1][rows[0].index("person")] == "Joseph Biden"  # history keeps the name after deletion


def test_rejected_photos_are_explained(cli, tmp_path: Path) -> None:
    bad = tmp_path / "cat.jpg"
    bad.write_bytes(b"meow")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    code, out, err = cli("enroll", "Nobody", str(bad), str(blank))
    assert code == 1
    assert f"{bad}: rejected: Cannot read image" in out and f"{blank}: rejected: no face found" in out
    assert "nothing was saved" in err
    assert cli("people", "list")[1].startswith("nobody enrolled")


def test_calibrate_and_models(cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for person in ("amy", "howard", "raj"):
        photos = [str(p) for p in sorted(shared_path("faces", "bbt", "people", person).iterdir())]
        assert cli("enroll", person, *photos, "--yes")[0] == 0
    code, out, _ = cli("calibrate")  # the policy's decision next to the gallery's own curve
    assert code == 0 and "a stranger is marked in at most 1 of 100 sessions, with 3 enrolled" in out
    assert "threshold in force:" in out and "impostor table, measured on identity-disjoint photos" in out
    assert "   -0.200" not in out and "   1.000   0.0000   1.0000" in out  # the curve where it moves
    policy = float(out.split("threshold in force: ")[1].split(",")[0])
    assert "suggested threshold for FAR 3.3e-03 per comparison" in out  # the policy's target by default
    assert "only with at least 3,000 impostor pairs" in out and "too few" in out
    assert "(default)" in cli("model", "list")[1]  # nothing stored

    code, out, _ = cli("calibrate", "--sessions", "10000")
    assert code == 0 and "1 of 10,000 sessions" in out
    stricter = float(out.split("threshold in force: ")[1].split(",")[0])
    assert stricter > policy
    for refused in (("--sessions", "5"), ("--apply", "--use-policy")):
        with pytest.raises(SystemExit) as exit_:
            cli("calibrate", *refused)
        assert exit_.value.code == 2
    refusals = capsys.readouterr().err
    assert "invalid choice: 5" in refusals and "--use-policy: not allowed with argument --apply" in refusals

    code, out, _ = cli("calibrate", "--target-far", "0.01", "--apply")
    assert code == 0 and "overrides the policy" in out
    suggested = float(out.split("per comparison: ")[1].split()[0])
    assert f"threshold in force: {suggested:.4f}" in out.split("applied:")[1] and "set by hand (it overrides" in out
    code, out, _ = cli("model", "list")
    assert f"threshold {suggested:.3f} (manual)" in out and out.startswith("*")

    code, out, _ = cli("calibrate", "--use-policy")
    assert code == 0 and "the policy decides again" in out and f"threshold in force: {stricter:.4f}" in out
    assert "(default)" in cli("model", "list")[1]

    import torch

    from core.vision.models.checkpoint import make_checkpoint, save_atomic
    from core.vision.models.edgeface import EdgeFace

    torch.manual_seed(0)
    ckpt = save_atomic(make_checkpoint(EdgeFace.variant("xxs")), tmp_path / "xxs.pt")
    code, out, _ = cli("model", "activate", str(ckpt))
    assert code == 0 and "active model: xxs" in out
    code, out, _ = cli("model", "list")
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("*") and "edgeface" in lines[1]
    code, out, _ = cli("model", "activate", "dlib")
    assert code == 0 and cli("model", "list")[1].startswith("*")


def test_evaluate_writes_the_json_keys(cli, tmp_path: Path) -> None:
    root = tmp_path / "orl"
    for s in ("s1", "s2", "s3", "s4"):
        (root / s).mkdir(parents=True)
        for i in range(1, 6):
            (root / s / f"{i}.pgm").symlink_to(shared_path("faces", "orl", s, f"{i}.pgm"))
    out_json = tmp_path / "eval.json"
    code, out, _ = cli("evaluate", str(root), "--enroll-per-subject", "2", "--json", str(out_json))
    assert code == 0 and "rank-1" in out
    result = json.loads(out_json.read_text())
    assert {"rank1", "subjects", "probes", "unknown_rate", "threshold"} <= set(result)
    assert result["subjects"] == 4 and result["probes"] == 12 and result["rank1"] >= 0.75
    assert result["probes_unreadable"] == 0

    (root / "s1" / "5.pgm").unlink()
    (root / "s1" / "5.pgm").write_bytes(b"P5 truncated")  # a probe that cannot be read: a failure, not a crash
    code, out, err = cli("evaluate", str(root), "--enroll-per-subject", "2", "--json", str(out_json))
    assert code == 0 and "1 probe image(s) could not be read" in out
    assert json.loads(out_json.read_text())["probes_unreadable"] == 1


def test_errors_are_messages(cli, tmp_path: Path) -> None:
    code, _, err = cli("export", "--session", "Nope", "--out", str(tmp_path / "x.csv"))
    assert code == 2 and "no session called 'Nope'" in err
    code, _, err = cli("identify", str(shared_path("faces", "misc", "obama.jpg")))
    assert code == 1 and "gallery is empty" in err
    code, _, err = cli("--embedder", str(tmp_path / "missing.pt"), "faces", str(shared_path("faces", "misc", "obama.jpg")))
    assert code == 2 and "missing.pt" in err
