"""Switching the recognition engine to another embedder, in the background, with a progress dialog and
Cancel: what choosing a weights file, rolling back (Settings) and promoting a fine-tuned model (Training)
share.

`start_model_switch(ctx, parent, title, work, describe)` runs `work(control, gallery, device)` on the
task pool with a gallery on the worker's own database connection; `work` makes the gallery switch
(through core: `Gallery.activate_model`, `core.gallery.lifecycle.promote` / `roll_back`) and returns the
embedder that is now active. The new pipeline keeps the detector and the small-face route of the one
in use (or loads them from the settings when none is). On the GUI thread the pipeline is installed
(`ctx.set_pipeline`), `ctx.gallery_changed` fires and `describe(pipeline)` is said as information.
A failure reaches the notifier under `title`; a cancel (core's `CancelledError`) leaves the old model
active. One switch at a time per context: a second one is refused with a warning.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressDialog, QWidget

from core.gallery.store import CancelledError, Gallery
from core.vision.models.base import Embedder
from core.vision.pipeline import FacePipeline, resolve_device
from desktop.context import SMALL_FACES_TITLE, AppContext, pipeline_for
from desktop.tasks import Task, TaskControl

SwitchWork = Callable[[TaskControl, Gallery, torch.device], Embedder]

_running: weakref.WeakKeyDictionary[AppContext, Task] = weakref.WeakKeyDictionary()


def switch_running(ctx: AppContext) -> bool:
    """A model switch started by `start_model_switch` has not finished yet."""
    task = _running.get(ctx)
    return task is not None and not task.done.is_set()


def check_cancelled(control: TaskControl) -> None:
    """Raise core's CancelledError when the operator pressed Cancel (nothing has been switched yet)."""
    if control.cancelled:
        raise CancelledError("cancelled; the active model stays as it was")


def reembedding_progress(control: TaskControl) -> Callable[[int, int], None]:
    """core's progress callback of a (re-)embedding of the stored faces, as the task's progress."""
    return lambda done, total: control.progress(done, total, "Re-computing the enrolled faces…")


def progress_dialog(parent: QWidget, title: str, task: Task, text: str = "Loading the model…") -> QProgressDialog:
    """A window-modal progress dialog that follows `task` (Cancel cancels it) and goes away when it ends."""
    dialog = QProgressDialog(text, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(task.cancel)

    def progressed(done: int, total: int, label: str) -> None:
        if label:
            dialog.setLabelText(label)
        dialog.setMaximum(max(total, 0))
        dialog.setValue(min(done, total) if total > 0 else 0)

    def finished() -> None:
        dialog.canceled.disconnect(task.cancel)
        dialog.hide()
        dialog.deleteLater()

    task.progressed.connect(progressed)
    task.finished.connect(finished)
    dialog.show()  # not exec(): the GUI keeps running
    return dialog


def start_model_switch(ctx: AppContext, parent: QWidget, title: str, work: SwitchWork,
                       describe: Callable[[FacePipeline], str]) -> tuple[Task, QProgressDialog] | None:
    """Run `work` and install the engine of the embedder it returns (see the module doc). None (with a
    warning) while the models load or another switch runs."""
    if switch_running(ctx):
        ctx.notifier.warning(title, "Another model switch is running; wait until it has finished.")
        return None
    if ctx.engine_loading:
        ctx.notifier.warning(title, "The models are still loading; try again in a moment.")
        return None
    config = ctx.config
    old = ctx.pipeline if ctx.engine_ready else None  # read here, on the GUI thread
    problems: list[str] = []

    def run(control: TaskControl) -> FacePipeline:
        device = resolve_device(config.device)
        check_cancelled(control)
        with ctx.open_database() as db:
            embedder = work(control, Gallery(db), device)
        if old is not None:  # the detector and the small-face route stay as they are
            return FacePipeline(old.detector, embedder, max_detect_side=old.max_detect_side, resolver=old.resolver,
                                sr_below_px=old.sr_below_px)
        return pipeline_for(config, embedder, device, problems)

    def done(pipeline: FacePipeline) -> None:
        if problems:
            ctx.resolver_error = "\n".join(problems)
            for problem in problems:
                ctx.notifier.error(SMALL_FACES_TITLE, problem)
        ctx.set_pipeline(pipeline)
        ctx.gallery_changed.emit()
        ctx.notifier.info(title, describe(pipeline))

    task = ctx.tasks.run(title, run, on_done=done)  # a failure goes to the notifier under `title`
    _running[ctx] = task
    return task, progress_dialog(parent, title, task)
