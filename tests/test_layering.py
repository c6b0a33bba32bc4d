"""The layering rule: core imports neither Qt nor the app/trainer; the trainer never imports the app."""

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
