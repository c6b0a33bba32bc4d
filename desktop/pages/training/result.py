"""The Training tab's Result box and the words for a run's outcome. A finished DSR run offers "Use this
model" (best.pt becomes the DSR for small faces); a finished fine-tuning run is reviewed beside its
summary (`desktop.model_review.ModelReview`: compare best.pt with the active model, promote it)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.context import AppContext
from desktop.model_review import ModelReview, evaluation_keys, size_label
from desktop.trainer_process import DSR_JOB, FINETUNE_JOB
from trainer.events import Finished

STATE_TEXT = {
    "idle": "No training run yet.",
    "starting": "Starting the trainer…",
    "running": "Training…",
    "stopping": "Stopping: the trainer finishes the current batch and saves a checkpoint…",
    "completed": "Finished: all steps done.",
    "early_stopped": "Finished early: the identity similarity stopped improving.",
    "time_limit": "Stopped at the time limit; it can be resumed.",
    "stopped": "Stopped; it can be resumed.",
    "failed": "Failed (see the message and the log).",
}
JOB_STATE_TEXT = {FINETUNE_JOB: {"early_stopped": "Finished early: the SR–HR similarity stopped improving."}}
BEST_VALUE = {DSR_JOB: ("best_identity", "Best identity similarity"),
              FINETUNE_JOB: ("best_similarity", "Best SR–HR similarity")}
NO_RUN_TEXT = "No finished run yet."


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def state_text(job: str, state: str) -> str:
    """A run state in words (some read differently for a job)."""
    return JOB_STATE_TEXT.get(job, {}).get(state) or STATE_TEXT.get(state, state)


def evaluation_text(evaluation: dict) -> str:
    """One line of a fine-tuning run's final evaluation: verification accuracy on its validation split,
    the untuned model against best.pt, at each face width."""
    models = evaluation.get("models") if isinstance(evaluation.get("models"), dict) else {}
    base, tuned = models.get("base") or {}, models.get("tuned") or {}

    def pct(value: object) -> str:
        return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "–"

    sizes = ", ".join(f"{size_label(k)} {pct(base.get(k))} → {pct(tuned.get(k))}"
                      for k in evaluation_keys(evaluation))
    return (f"Verification on the validation split ({evaluation.get('val_images', '?')} images, "
            f"{evaluation.get('pairs', '?')} pairs), untuned → best.pt: {sizes or 'not measured'}")


def summary_text(event: Finished, job: str) -> str:
    """The Result box's account of a finished run of this job (rich text)."""
    lines = [f"<b>{state_text(job, event.status)}</b> Step {event.step if event.step is not None else '–'}"
             f", {format_eta(event.elapsed_s)} elapsed."]
    summary = event.summary if isinstance(event.summary, dict) else {}
    key, label = BEST_VALUE.get(job, BEST_VALUE[DSR_JOB])
    best = summary.get(key)
    if isinstance(best, (int, float)):
        lines.append(f"{label}: {best:.4f}")
    if job == FINETUNE_JOB and summary.get("best_stage") == 1:
        lines.append("<b>best.pt is from stage 1</b>: no stage-2 model beat the untuned one (on SR–HR similarity "
                     "without losing sharp-face accuracy), so its backbone is the untuned model; promoting it "
                     "would change nothing.")
    metrics = summary.get("metrics")
    if isinstance(metrics, dict) and metrics:
        lines.append("Last validation: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                                     if isinstance(v, (int, float))))
    evaluation = summary.get("evaluation")
    if job == FINETUNE_JOB and isinstance(evaluation, dict):
        lines.append(evaluation_text(evaluation))
    for key in ("best", "last"):
        if isinstance(summary.get(key), str):
            lines.append(f"{key}.pt: {summary[key]}")
    return "<br>".join(lines)


class ResultBox(QGroupBox):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__("Result")
        outer = QHBoxLayout(self)
        v = QVBoxLayout()
        outer.addLayout(v, 1)
        self.summary_label = QLabel(NO_RUN_TEXT)
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.summary_label)
        self.use_row = QWidget()
        row = QHBoxLayout(self.use_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Make the model this run saved the one the app uses")
        row.addWidget(self.use_button)
        note = QLabel("Makes best.pt the super-resolution model for small faces (Settings > Small faces).")
        note.setWordWrap(True)
        row.addWidget(note, 1)
        v.addWidget(self.use_row)
        v.addStretch(1)
        self.review = ModelReview(ctx)  # fine-tuning runs: beside the summary
        outer.addWidget(self.review, 1)

    def show_job(self, finetune: bool) -> None:
        self.use_row.setVisible(not finetune)
        self.review.setVisible(finetune)
