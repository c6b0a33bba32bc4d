"""Switching the recognition engine to another embedder, in the background, with a progress dialog and
Cancel: what choosing a weights file, rolling back (Settings) and promoting a fine-tuned model (Training)
share.

`start_model_switch(ctx, parent, title, work, describe)` runs `work(control, service, device)` on the
task pool with a worker-scoped service (`ctx.service.connect()`); `work` makes the switch through one of
its operations (`activate_model`, `promote`, `roll_back`), which re-embeds the gallery and installs the
new pipeline around the detector and small-face route in use (built from the settings when none was).
The operation's report becomes `gallery_changed` and `engine_changed` on the GUI thread (the context's
bridge); then `describe(pipeline)` is said as information.
A failure reaches the notifier under `title`; a cancel (core's `CancelledError`) leaves the old model
active. One switch at a time per context: a second one is refused with a warning.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressDialog, QWidget

from core.gallery.store import CancelledError
from core.service import Rollcall
from core.vision.pipeline import FacePipeline, resolve_device
from desktop.context import SMALL_FACES_TITLE, AppContext
from desktop.tasks import Task, TaskControl

SwitchWork = Callable[[TaskControl, Rollcall, torch.device], object]  # makes the switch; its result is unused

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
    service, device_name = ctx.service, ctx.config.device
    problems: list[str] = []  # why the DSR model is not in use, when the pipeline had to be built

    def run(control: TaskControl) -> FacePipeline:
        device = resolve_device(device_name)
        check_cancelled(control)
        with service.connect() as worker, worker.batch():  # one report: the model, the engine
            work(control, worker, device)
            built = worker.current_pipeline is None  # no engine was running: build one for the new model
            pipeline = worker.pipeline()
            if built:
                problems.extend(worker.engine_problems)
        return pipeline

    def done(pipeline: FacePipeline) -> None:
        for problem in problems:
            ctx.notifier.error(SMALL_FACES_TITLE, problem)
        ctx.engine_error = ""
        ctx.notifier.info(title, describe(pipeline))

    task = ctx.tasks.run(title, run, on_done=done)  # a failure goes to the notifier under `title`
    _running[ctx] = task
    return task, progress_dialog(parent, title, task)
