"""Reviewing a fine-tuned recognition model before it replaces the active one: the Training tab's
"Compare with the active model" and "Promote".

Compare scores the run's best.pt on the gallery beside the active model (nothing switches); Promote
then switches to it through `desktop.model_switch`. Both are background tasks with progress and Cancel.

Details: docs/DESKTOP.md#training-and-adopting-a-fine-tuned-model and #test-hooks
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from core.gallery.store import ModelRecord
from core.gallery.lifecycle import Comparison, GalleryScores, evaluate_candidate, install_model_file
from core.service import Rollcall
from core.vision.models.base import Embedder
from core.vision.models.loading import is_default_model, load_embedder
from core.vision.pipeline import FacePipeline, resolve_device
from desktop.admin_gate import admin_allows
from desktop.context import AppContext
from desktop.model_switch import (
    check_cancelled,
    progress_dialog,
    reembedding_progress,
    start_model_switch,
    switch_running,
)
from desktop.tables.records import RecordTableModel
from desktop.tasks import Task, TaskControl
from trainer.runner import EVALUATION_FILENAME

logger = logging.getLogger(__name__)

COMPARE_TITLE = "Comparing models"
PROMOTE_TITLE = "Fine-tuned model"
HIGHER, LOWER = 1, -1  # which way is better for a row


def same_model_file(a: str, b: str) -> bool:
    if is_default_model(a) or is_default_model(b):
        return is_default_model(a) and is_default_model(b)
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def run_evaluation(summary: dict, run_dir: Path | None) -> dict | None:
    """The run's final evaluation: `summary.evaluation` of its finished event, else RUN_DIR/evaluation.json."""
    evaluation = summary.get("evaluation") if isinstance(summary, dict) else None
    if isinstance(evaluation, dict):
        return evaluation
    path = run_dir / EVALUATION_FILENAME if run_dir is not None else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("cannot read %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ComparisonRow:
    id: int
    label: str
    active: object  # a number, a text or None
    candidate: object
    kind: str = "text"  # "text", "score" (3 decimals), "percent"
    better: int = 0  # HIGHER, LOWER, or 0 (nothing to prefer)
    tip: str = ""

    def shown(self, value: object) -> str:
        if value is None:
            return "–"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.kind == "percent":
                return f"{100.0 * value:.1f} %"
            if self.kind == "score":
                return f"{value:.3f}"
        return str(value)

    def best_side(self) -> int | None:
        """Column of the better value (1 active, 2 candidate), None when equal or not comparable."""
        a, c = self.active, self.candidate
        if not self.better or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, c)):
            return None
        if a == c:
            return None
        return 2 if (c - a) * self.better > 0 else 1


GALLERY_ROWS = (  # label, GalleryScores field, kind, better, tooltip
    ("Gallery: genuine mean", "genuine_mean", "score", HIGHER,
     "Mean cosine similarity of two stored faces of the same person"),
    ("Gallery: impostor mean", "impostor_mean", "score", LOWER,
     "Mean cosine similarity of stored faces of two different people"),
    ("Gallery: d′", "d_prime", "score", HIGHER,
     "(genuine mean − impostor mean) / pooled spread: larger separates people better"),
    ("Gallery: EER", "eer", "percent", LOWER, "Equal error rate: where false accepts and false rejects are equal"),
    ("Gallery: threshold", "threshold", "score", 0, "Each model's own match threshold in this gallery"),
    ("Gallery: FAR at the threshold", "far", "percent", LOWER,
     "Pairs of different people accepted at the model's threshold"),
    ("Gallery: FRR at the threshold", "frr", "percent", LOWER,
     "Pairs of the same person rejected at the model's threshold"),
)


def size_label(key: str) -> str:
    return "full resolution" if key == "hr" else f"{key.removesuffix('px')} px faces"


def evaluation_keys(evaluation: dict) -> list[str]:
    """The measured face widths of the run's evaluation: "hr" first, then the px sizes, narrowest first."""
    models = evaluation.get("models") if isinstance(evaluation.get("models"), dict) else {}
    keys = {k for m in models.values() if isinstance(m, dict) for k in m if k == "hr" or k.endswith("px")}
    sized = sorted((k for k in keys if k != "hr"), key=lambda k: int(k[:-2]) if k[:-2].isdigit() else 10**6)
    return (["hr"] if "hr" in keys else []) + sized


def comparison_rows(comparison: Comparison, evaluation: dict | None) -> list[ComparisonRow]:
    """The rows of the side-by-side table: the gallery's figures of both models, then the run's validation split."""
    active, candidate = comparison.active, comparison.candidate
    rows: list[ComparisonRow] = []

    def add(label: str, a: object, c: object, kind: str = "text", better: int = 0, tip: str = "") -> None:
        rows.append(ComparisonRow(len(rows), label, a, c, kind, better, tip))

    def of(scores: GalleryScores | None, name: str) -> object:
        return getattr(scores, name) if scores is not None else None

    def counts(scores: GalleryScores | None, *names: str) -> str | None:
        return " / ".join(str(getattr(scores, n)) for n in names) if scores is not None else None

    add("Model", of(active, "model_name"), candidate.model_name)
    add("Gallery: people / samples", counts(active, "people", "samples"), counts(candidate, "people", "samples"),
        tip="Samples the model has an embedding of")
    add("Gallery: genuine / impostor pairs", counts(active, "genuine_pairs", "impostor_pairs"),
        counts(candidate, "genuine_pairs", "impostor_pairs"))
    for label, name, kind, better, tip in GALLERY_ROWS:
        add(label, of(active, name), of(candidate, name), kind, better, tip)
    if not evaluation:
        return rows
    models = evaluation.get("models") if isinstance(evaluation.get("models"), dict) else {}
    base = models.get("base") if isinstance(models.get("base"), dict) else {}
    tuned = models.get("tuned") if isinstance(models.get("tuned"), dict) else {}
    images, pairs = evaluation.get("val_images"), evaluation.get("pairs")
    add("Validation split: images / pairs", f"{images} / {pairs}", f"{images} / {pairs}",
        tip="The run's held-out images (same people as training, other photos)")
    for key in evaluation_keys(evaluation):
        add(f"Validation split: verification, {size_label(key)}", base.get(key), tuned.get(key), "percent", HIGHER,
            "Accuracy of same/different-person pairs on the run's validation split (a sharp face against a "
            "small one, super-resolved as the run did); the active column is the model the run started from")
    benchmark = evaluation.get("benchmark") if isinstance(evaluation.get("benchmark"), dict) else None
    if benchmark and isinstance(benchmark.get("models"), dict):
        bench_base, bench_tuned = (benchmark["models"].get(k) or {} for k in ("base", "tuned"))
        name = Path(str(benchmark.get("data", ""))).name or "benchmark"
        for key in evaluation_keys(benchmark):
            add(f"Benchmark {name}: verification, {size_label(key)}", bench_base.get(key), bench_tuned.get(key),
                "percent", HIGHER, "10-fold accuracy of the pairs benchmark given to the run (one image of each pair "
                "downscaled so its face is that wide); the active column is the model the run started from")
    return rows


class ComparisonTableModel(RecordTableModel):
    columns = ("Measure", "Active model", "Candidate")
    right_aligned = frozenset({1, 2})

    def display(self, row: ComparisonRow, column: int) -> object:
        return row.label if column == 0 else row.shown(row.active if column == 1 else row.candidate)

    def role_data(self, row: ComparisonRow, column: int, role: int) -> object:
        if role == Qt.ItemDataRole.ToolTipRole and row.tip:
            return row.tip
        if role == Qt.ItemDataRole.FontRole and column and row.best_side() == column:
            font = QFont()
            font.setBold(True)
            return font
        return None


# ---------------------------------------------------------------------- the widget


def load_candidate(control: TaskControl, best: Path, models_dir: Path, name: str, device: torch.device) -> Embedder:
    """On a worker: copy best.pt into the models folder as NAME.pt (an identical copy is reused) and load
    that copy, so the gallery knows the model by the file it keeps."""
    control.progress(0, 0, f"Copying {best.name} into {models_dir}…")
    installed = install_model_file(best, models_dir, name)
    check_cancelled(control)
    control.progress(0, 0, f"Loading {installed.name}…")
    embedder = load_embedder(installed, device=device)
    check_cancelled(control)
    return embedder


class ModelReview(QWidget):
    """Compare a fine-tuning run's best.pt with the active model, then promote it."""

    promoted = Signal(str)  # the name of the model now active

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.run_dir: Path | None = None
        self.best: Path | None = None
        self.evaluation: dict | None = None
        self.comparison: Comparison | None = None
        self.task: Task | None = None
        self.progress_dialog = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.compare_button = QPushButton("Compare with the active model")
        self.compare_button.setToolTip("Embed the enrolled faces with best.pt and score both models side by side")
        self.compare_button.clicked.connect(self.compare)
        self.promote_button = QPushButton("Promote")
        self.promote_button.setToolTip("Make best.pt the active recognition model (Settings can roll it back)")
        self.promote_button.clicked.connect(self.promote)
        row.addWidget(self.compare_button)
        row.addWidget(self.promote_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.table_model = ComparisonTableModel()
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(120)
        self.table.hide()
        layout.addWidget(self.table, 1)
        layout.addStretch(0)  # keeps the buttons and the note at the top while there is no table
        ctx.gallery_changed.connect(self._update)
        self._update()

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done.is_set()

    def set_run(self, run_dir: Path | None, best: Path | None, evaluation: dict | None) -> None:
        """The finished fine-tuning run to review (None: nothing to review); forgets an earlier comparison."""
        self.run_dir, self.best, self.evaluation = run_dir, best, evaluation
        self.comparison = None
        self.table_model.set_records([])
        self.table.hide()
        self._update()

    @property
    def model_name(self) -> str:
        return f"finetuned-{self.run_dir.name}" if self.run_dir is not None else "finetuned"

    # ------------------------------------------------------------------ actions

    def compare(self) -> Task | None:
        """Score best.pt beside the active model on the gallery, in the background."""
        if not self._ready(COMPARE_TITLE):
            return None
        ctx, device, candidate = self.ctx, self.ctx.config.device, self._candidate()

        def work(control: TaskControl) -> Comparison:
            embedder = load_candidate(control, *candidate, resolve_device(device))
            with ctx.service.connect() as service:
                return evaluate_candidate(
                    service.gallery, embedder, cancelled=lambda: control.cancelled,
                    progress=lambda done, total: control.progress(done, total, "Embedding the enrolled faces…"))

        task = self.ctx.tasks.run(COMPARE_TITLE, work, on_done=self._compared)
        self.progress_dialog = progress_dialog(self, COMPARE_TITLE, task, "Preparing the comparison…")
        self._track(task)
        return task

    def promote(self) -> Task | None:
        """Make best.pt the active model (after a comparison); the engine switches to it."""
        if self.comparison is None:
            self.ctx.notifier.warning(PROMOTE_TITLE, "Compare the model with the active one first.")
            return None
        if not self._ready(PROMOTE_TITLE):
            return None
        if not admin_allows(self, self.ctx, "Promoting a recognition model"):
            return None
        before, candidate = self.ctx.service.gallery.active_model(), self._candidate()

        def work(control: TaskControl, service: Rollcall, device: torch.device) -> None:
            embedder = load_candidate(control, *candidate, device)
            service.promote(embedder, progress=reembedding_progress(control), cancelled=lambda: control.cancelled)

        def describe(pipeline: FacePipeline) -> str:
            name = pipeline.embedder.name
            back = (f" To return to {before.name}, use Settings > Recognition model > “Roll back to {before.name}”."
                    if before is not None else "")
            return f"{name} is now the active recognition model.{back}"

        started = start_model_switch(self.ctx, self, PROMOTE_TITLE, work, describe)
        if started is None:
            return None
        task, self.progress_dialog = started
        task.succeeded.connect(lambda pipeline: self.promoted.emit(pipeline.embedder.name))  # after the switch
        self._track(task)
        return task

    def _candidate(self) -> tuple[Path, Path, str]:
        """(best.pt, the models folder, the name it is installed under), read on the GUI thread."""
        return self.best, self.ctx.config.db_path.parent / "models", self.model_name

    def _ready(self, title: str) -> bool:
        if self.busy or switch_running(self.ctx):
            self.ctx.notifier.warning(title, "A comparison or model switch is running; wait until it has finished.")
            return False
        if self.best is None or not self.best.is_file():
            self.ctx.notifier.error(title, f"The run's best.pt {self.best or ''} is missing: nothing to compare. "
                                           f"Run the fine-tuning again, or choose its file in Settings.")
            return False
        return True

    def _track(self, task: Task) -> None:
        self.task = task
        task.finished.connect(self._task_finished)
        self._update()

    def _task_finished(self) -> None:
        self.progress_dialog = None
        self._update()

    def _compared(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.table_model.set_records(comparison_rows(comparison, self.evaluation))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.show()
        self._update()

    # ------------------------------------------------------------------ display

    def _update(self) -> None:
        active = self.ctx.service.gallery.active_model()
        candidate = self.comparison.candidate if self.comparison is not None else None
        is_active = candidate is not None and active is not None and active.id == candidate.model_id
        idle = not self.busy
        self.compare_button.setEnabled(idle and self.best is not None)
        self.promote_button.setEnabled(idle and candidate is not None and not is_active)
        self.note.setText(self._note(active, is_active))

    def _note(self, active: ModelRecord | None, is_active: bool) -> str:
        if self.best is None:
            return ""
        if self.comparison is None:
            return (f"best.pt can replace the active model ({active.name if active else 'none'}). Compare them on "
                    f"the enrolled faces first; a promotion is undone in Settings > Recognition model.")
        if is_active:
            return (f"{self.comparison.candidate.model_name} is the active model. Settings > Recognition model > "
                    f"Roll back returns to the one before.")
        lines = []
        shown = self.comparison.active
        if active is not None and (shown is None or shown.model_id != active.id):
            lines.append(f"The active model is now {active.name}: compare again before promoting.")
        models = (self.evaluation or {}).get("models")
        base = models.get("base") if isinstance(models, dict) else None
        if active is not None and isinstance(base, dict) and base.get("source") \
                and not same_model_file(str(base["source"]), active.source):
            lines.append(f"The run fine-tuned {base['source']}, not the active model: the validation-split rows "
                         f"of the active column are that model's.")
        return " ".join(lines) or "Bold: the better value. Promote makes the candidate the active model."
