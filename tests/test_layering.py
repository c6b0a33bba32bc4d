"""The layering rules: core imports neither Qt nor the app/trainer; the trainer never imports the app; inside
core, each sub-package imports only the layers beneath it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "core": ("PySide6", "PyQt5", "PyQt6", "shiboken6", "desktop", "trainer"),
    "trainer": ("desktop", "PySide6"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden_layers(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no python files under {package}/"
    violations = [
        f"{f.relative_to(REPO)}:{line} imports {name}"
        for f in files
        for line, name in imported_modules(f)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert not violations, "layering rule broken:\n" + "\n".join(violations)


# What each core sub-package may import from the others (core.errors, paths, digest and protected_files are open
# to all). The adapters sit on top: the CLI on the service, the service on everything beneath it.
CORE_LAYERS = {
    "vision": set(),
    "storage": set(),
    "gallery": {"vision", "storage"},
    "attendance": {"vision", "storage", "gallery"},
    "benchmarks": {"vision", "storage", "gallery", "attendance"},  # the open-set benchmark runs the live vote
    "register": {"storage", "gallery", "attendance"},
    "service": {"vision", "storage", "gallery", "attendance", "benchmarks", "register"},
    "cli": {"service", "vision", "storage", "gallery", "attendance", "benchmarks", "register"},
}
CORE_SHARED = {"errors", "paths", "digest", "protected_files"}


def core_layer_violations(core_dir: Path) -> list[str]:
    problems = []
    for path in sorted(core_dir.rglob("*.py")):
        parts = path.relative_to(core_dir).parts
        if len(parts) == 1:
            own = None  # a shared top-level module: may import no sub-package
        elif parts[0] in CORE_LAYERS:
            own = parts[0]
        else:
            problems.append(f"{path.relative_to(core_dir.parent)}: sub-package '{parts[0]}' is not in CORE_LAYERS")
            continue
        allowed = CORE_LAYERS.get(own, set()) | CORE_SHARED | ({own} if own else set())
        for line, name in imported_modules(path):
            bits = name.split(".")
            if bits[0] == "core" and len(bits) > 1 and bits[1] not in allowed:
                problems.append(f"{path.relative_to(core_dir.parent)}:{line} ({own or 'core'}) imports {name}")
    return problems


def test_core_sub_packages_import_only_the_layers_beneath() -> None:
    problems = core_layer_violations(REPO / "core")
    assert not problems, "core layering broken:\n" + "\n".join(problems)


def test_core_layer_check_sees_upward_imports(tmp_path: Path) -> None:
    core = tmp_path / "core"
    (core / "vision").mkdir(parents=True)
    (core / "gallery").mkdir()
    (core / "vision" / "pipeline.py").write_text("from core.gallery.store import Gallery\nfrom core.errors import X\n")
    (core / "gallery" / "store.py").write_text("import core.vision.pipeline\nfrom core.attendance.marks import M\n")
    (core / "errors.py").write_text("from core.storage.db import Database\n")
    (core / "gui").mkdir()
    (core / "gui" / "x.py").write_text("")
    found = core_layer_violations(core)
    assert any("vision/pipeline.py:1" in p for p in found)
    assert any("gallery/store.py:2" in p for p in found)
    assert any("errors.py:1" in p for p in found)
    assert any("'gui' is not in CORE_LAYERS" in p for p in found)
    assert len(found) == 4  # the allowed imports (core.errors, core.vision from gallery) are not reported


def test_checker_sees_violations(tmp_path: Path) -> None:
    """The scan itself must notice imports in all their forms."""
    bad = tmp_path / "bad.py"
    bad.write_text("import PySide6.QtCore\nfrom desktop import app\ndef f():\n    import trainer.events\n")
    names = [name for _, name in imported_modules(bad)]
    assert names == ["PySide6.QtCore", "desktop", "trainer.events"]


def test_importing_core_loads_no_qt_app_trainer_or_mtcnn_code() -> None:
    import subprocess
    import sys

    # The mtcnn package is only a source of weight files: its code (which imports TensorFlow) never runs.
    code = (
        "import sys, core.vision.pipeline, core.vision.models.loading, core.vision.detect.mtcnn, core.vision.detect.yunet, core.cli\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in\n"
        "       ('PySide6', 'desktop', 'trainer', 'mtcnn', 'tensorflow')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
