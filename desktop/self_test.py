"""`Rollcall --self-test [IMAGE]`: check an installed Rollcall (or a source checkout) without opening a window.

Models, detector, embedder, database, recognition (enrol a face, recognise it again), video, Qt and the
trainer are checked in turn; the verdict is one JSON object on stdout (and in --report FILE), exit code
0 when every check passed, 1 otherwise. Logs go to stderr only.

Checks: docs/DESKTOP.md#the-self-tests-checks; on Windows: docs/PACKAGING.md
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import RollcallError

logger = logging.getLogger(__name__)

SCHEMA = 1
DB_NAME = "self-test.db"
PERSON_NAME = "Self-test person"
TRAINER_TIMEOUT_S = 120


@dataclass
class Check:
    name: str
    ok: bool = False
    time_s: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "time_s": round(self.time_s, 3), "detail": self.detail}


class CheckFailed(Exception):
    """A check did not pass; the message is the detail."""


@dataclass
class SelfTest:
    image: Path | None
    data_dir: Path
    device: str = "cpu"
    checks: list[Check] = field(default_factory=list)
    state: dict = field(default_factory=dict)

    def run_check(self, name: str, fn: Callable[[], str], needs: tuple[str, ...] = ()) -> Check:
        check = Check(name)
        self.checks.append(check)
        missing = [n for n in needs if not self.passed(n)]
        if missing:
            check.detail = f"not run: the {', '.join(missing)} check failed"
            return check
        t0 = time.perf_counter()
        try:
            check.detail = fn()
            check.ok = True
        except CheckFailed as exc:
            check.detail = str(exc)
        except RollcallError as exc:  # the engine's messages name the file and say what to do
            check.detail = str(exc)
        except Exception as exc:  # a self-test reports every failure instead of crashing
            logger.debug("self-test check %s failed", name, exc_info=True)
            check.detail = f"{type(exc).__name__}: {exc}"
        check.time_s = time.perf_counter() - t0
        return check

    def passed(self, name: str) -> bool:
        return any(c.name == name and c.ok for c in self.checks)

    # ------------------------------------------------------------------ checks

    def check_models(self) -> str:
        problems, found = [], []
        for what, locate, expected in model_files():
            try:
                paths = locate()
            except Exception as exc:  # noqa: BLE001 - reported as a problem of this check
                if is_frozen():
                    problems.append(f"the {what} is missing from this installation: expected "
                                    f"{', '.join(str(p) for p in expected)}. Reinstall Rollcall (a bundle "
                                    f"built without build.spec's data files lacks it).")
                else:
                    problems.append(f"the {what} was not found: {exc}")
                continue
            for path in paths:
                if not path.is_file() or path.stat().st_size == 0:
                    problems.append(f"the {what} file {path} is missing or empty. Reinstall Rollcall.")
                else:
                    found.append(f"{path} ({path.stat().st_size:,} bytes)")
        if problems:
            raise CheckFailed(" ".join(problems))
        return "found " + ", ".join(found)

    def check_detector(self) -> str:
        from core.vision.detect import create_detector

        detector = create_detector("mtcnn", device=self.device)
        self.state["detector"] = detector
        return f"MTCNN loaded on {self.device}"

    def check_embedder(self) -> str:
        from core.vision.align import align_face
        from core.vision.models.loading import default_embedder

        embedder = default_embedder(self.device)
        self.state["embedder"] = embedder
        face, landmarks = synthetic_face(240)
        crop = align_face(face, landmarks, embedder.spec.template, embedder.spec.size)
        vectors = np.asarray(embedder.embed(crop[None]))
        expected = int(embedder.dim)
        if vectors.shape != (1, expected):
            raise CheckFailed(f"{embedder.name} gave an embedding of shape {vectors.shape}, expected (1, {expected})")
        if not np.all(np.isfinite(vectors)):
            raise CheckFailed(f"{embedder.name} gave an embedding with NaN or infinite values")
        norm = float(np.linalg.norm(vectors[0]))
        if abs(norm - 1.0) > 1e-3:
            raise CheckFailed(f"{embedder.name} gave an embedding of length {norm:.4f}, expected unit length")
        return f"{embedder.name}: {expected}-d, finite, unit length (from a synthetic aligned crop)"

    def check_database(self) -> str:
        from core.service import Rollcall
        from core.storage.db import Database

        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / DB_NAME
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)  # always a fresh database: never the operator's rollcall.db
        service = Rollcall(Database(path))  # not Rollcall.open: a throw-away database needs no backup
        self.state["service"] = service
        model = service.activate_model(self.state["embedder"])
        return f"created {path}; active model {model.name} (threshold {model.threshold:.3f})"

    def check_recognition(self) -> str:
        import cv2

        from core.vision.imageio import read_image
        from core.gallery.matching import TemplateIndex
        from core.vision.pipeline import FacePipeline

        pipeline = FacePipeline(self.state["detector"], self.state["embedder"])
        service = self.state["service"]
        service.install_pipeline(pipeline)
        enroller = service.enroller()
        if self.image is not None:
            image = read_image(self.image)  # ImageReadError names the file
            source = str(self.image)
            probe = cv2.flip(image, 1)
            probe_what = "its mirror image"
        else:
            image, _ = synthetic_face(240)
            source = "synthetic face (drawn at run time)"
            probe = cv2.flip(synthetic_face(300)[0], 1)
            probe_what = "a mirrored rendering at another size (300 px instead of 240 px)"
        verdict = enroller.check(image, source)
        if not verdict.ok:
            raise CheckFailed(f"cannot enrol {source}: {verdict.reason}. The self-test needs a photo with "
                              f"exactly one clear, frontal face.")
        person = service.enrol(PERSON_NAME, [verdict])
        ids, names, matrix = service.gallery.templates(enroller.model.id)
        faces = pipeline.process(probe).faces
        if not faces:
            raise CheckFailed(f"enrolled {source}, but no face was found in {probe_what}")
        best = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        match = TemplateIndex(ids, names, matrix).identify(best.embedding[None], enroller.model.threshold)[0]
        if match.person_id != person.id:
            raise CheckFailed(f"enrolled {source}, but {probe_what} was not recognised: best score "
                              f"{match.score:.3f}, threshold {enroller.model.threshold:.3f}")
        return (f"enrolled {source} (face {verdict.sample.face_size:.0f} px) and recognised {probe_what} as the "
                f"same person: score {match.score:.3f} >= threshold {enroller.model.threshold:.3f}")

    def check_video(self) -> str:
        import cv2

        names = [cv2.videoio_registry.getBackendName(b) for b in cv2.videoio_registry.getStreamBackends()]
        usable = [n for n in names if n in ("FFMPEG", "MSMF", "GSTREAMER", "AVFOUNDATION")]
        if not usable:
            raise CheckFailed(f"OpenCV {cv2.__version__} has no backend that decodes video files "
                              f"(stream backends: {', '.join(names) or 'none'}); video files cannot be played")
        return f"OpenCV {cv2.__version__}, video file backends: {', '.join(usable)}"

    def check_qt(self) -> str:
        from PySide6 import QtCore, QtGui, QtWidgets  # noqa: F401 - importing them is the check

        plugins = Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
        present = sorted(p.name for p in plugins.glob("*")) if plugins.is_dir() else []
        wanted = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] or default_qt_platform()
        if not any(wanted in name for name in present):
            raise CheckFailed(f"Qt's platform plugin '{wanted}' is missing from {plugins} (found: "
                              f"{', '.join(present) or 'nothing'}); the window cannot open. Reinstall Rollcall.")
        return f"Qt {QtCore.qVersion()}, platform plugin '{wanted}' present in {plugins}"

    def check_trainer(self) -> str:
        from desktop.trainer_process import trainer_command

        command = [*trainer_command(), "--help"]
        env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TRAINER_TIMEOUT_S, env=env, check=False,
                                  encoding="utf-8", errors="replace", **hidden_window())
        except FileNotFoundError:
            raise CheckFailed(f"the trainer program {command[0]} is missing. Reinstall Rollcall.") from None
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"{' '.join(command)} did not answer within {TRAINER_TIMEOUT_S} s") from None
        if done.returncode != 0 or "train-dsr" not in done.stdout:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise CheckFailed(f"{' '.join(command)} exited with {done.returncode}: {' | '.join(tail)}")
        return f"{' '.join(command)} answered"

    # ------------------------------------------------------------------ all

    def run(self) -> dict:
        t0 = time.perf_counter()
        self.run_check("models", self.check_models)
        self.run_check("detector", self.check_detector, needs=("models",))
        self.run_check("embedder", self.check_embedder, needs=("models",))
        self.run_check("database", self.check_database, needs=("embedder",))
        self.run_check("recognition", self.check_recognition, needs=("detector", "database"))
        self.run_check("video", self.check_video)
        self.run_check("qt", self.check_qt)
        self.run_check("trainer", self.check_trainer)
        service = self.state.get("service")
        if service is not None:
            service.close()
        return {
            "rollcall_self_test": SCHEMA,
            "ok": all(c.ok for c in self.checks),
            "recognition_source": str(self.image) if self.image is not None else "synthetic",
            "data_folder": str(self.data_dir),
            "environment": environment(self.device),
            "total_s": round(time.perf_counter() - t0, 3),
            "checks": {c.name: c.as_dict() for c in self.checks},
        }


# --------------------------------------------------------------------------- helpers


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def bundle_dir() -> Path:
    """_internal/ of a PyInstaller bundle (sys._MEIPASS)."""
    return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))


def model_files() -> list[tuple[str, Callable[[], list[Path]], list[Path]]]:
    """(what, how the engine finds its files, where a bundle must have them) for each default model."""
    from core.vision.detect import mtcnn_weights
    from core.vision.models import dlib_resnet

    internal = bundle_dir()
    return [
        ("MTCNN face detector weights", lambda: list(mtcnn_weights.weight_files().values()),
         [internal.joinpath(*mtcnn_weights._WEIGHTS_SUBDIR, f"{n}.lz4") for n in mtcnn_weights.NET_NAMES]),
        ("dlib ResNet face embedder weights", lambda: [dlib_resnet.bundled_weights_path()],
         [internal / dlib_resnet.WEIGHTS_PACKAGE / dlib_resnet.WEIGHTS_FILE]),
    ]


def default_qt_platform() -> str:
    if sys.platform == "win32":
        return "qwindows"
    if sys.platform == "darwin":
        return "qcocoa"
    return "xcb"


def hidden_window() -> dict:
    """subprocess arguments that keep a console child from opening a window under a windowed app."""
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)}
    return {}


def environment(device: str) -> dict:
    import torch

    return {
        "frozen": is_frozen(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": bool(torch.cuda.is_available()),
        "device": device,
    }


def synthetic_face(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face (BGR uint8, size x size) drawn with OpenCV, and its five landmarks (eyes, nose
    tip, mouth corners). Plain shapes, no photo: MTCNN finds it at every size from 100 to 480 px,
    turned by up to 12 degrees and 20 % darker or brighter (checked when it was designed)."""
    import cv2

    img = np.full((size, size, 3), (200, 190, 180), np.uint8)
    c = size // 2
    yy, xx = np.mgrid[0:size, 0:size]
    d = ((xx - c) / (size * 0.28)) ** 2 + ((yy - c) / (size * 0.37)) ** 2
    shade = np.clip(1.05 - 0.35 * d, 0.6, 1.1)
    inside = d <= 1
    skin = np.array([150, 180, 225], np.float32)
    img[inside] = np.clip(skin[None] * shade[inside][:, None], 0, 255).astype(np.uint8)
    ex, ey = int(size * 0.11), int(c - size * 0.06)
    for sx in (-1, 1):
        cv2.ellipse(img, (c + sx * ex, ey), (int(size * 0.05), int(size * 0.025)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, (c + sx * ex, ey), int(size * 0.02), (40, 30, 20), -1)
        cv2.ellipse(img, (c + sx * ex, ey - int(size * 0.06)), (int(size * 0.06), int(size * 0.012)),
                    0, 180, 360, (40, 40, 60), 4)
    cv2.line(img, (c, ey + 5), (c - int(size * 0.02), c + int(size * 0.08)), (110, 130, 170), 3)
    mouth_y = c + int(size * 0.17)
    cv2.ellipse(img, (c, mouth_y), (int(size * 0.08), int(size * 0.03)), 0, 0, 180, (80, 80, 170), -1)
    cv2.ellipse(img, (c, c - int(size * 0.2)), (int(size * 0.3), int(size * 0.2)), 0, 180, 360, (30, 30, 40), -1)
    img = cv2.GaussianBlur(img, (5, 5), 1.5)
    landmarks = np.array([[c - ex, ey], [c + ex, ey], [c - size * 0.02, c + size * 0.08],
                          [c - size * 0.08, mouth_y], [c + size * 0.08, mouth_y]], np.float64)
    return img, landmarks


def run_self_test(image: str | Path | None, data_dir: str | Path | None = None,
                  report: str | Path | None = None, device: str = "cpu") -> int:
    """Run every check, print the JSON verdict on stdout (and write it to `report`); 0 if all passed."""
    image = Path(image) if image else None
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rollcall-self-test-")))
        else:
            folder = Path(data_dir)
        # Anything a library prints goes to stderr: stdout carries the verdict only.
        with contextlib.redirect_stdout(sys.stderr if sys.stderr is not None else open(os.devnull, "w")):
            verdict = SelfTest(image, folder, device=device).run()
    text = json.dumps(verdict, indent=2)
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(text + "\n", encoding="utf-8")
    if sys.stdout is not None:
        print(text, flush=True)
    return 0 if verdict["ok"] else 1
