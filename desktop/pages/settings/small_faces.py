"""The Settings tab's Small faces group: faces narrower than a width are super-resolved before they are
embedded, by a DSR checkpoint or by bicubic upscaling. "Automatic" (the default) turns the route on
whenever a DSR model is installed; the group also says what the engine does with small faces now."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox

from core.vision.models.superres import SuperResolver
from core.service.settings import DEFAULT_SR_BELOW_PX, SR_BELOW_PX_RANGE
from desktop.config import DesktopConfig
from desktop.context import SMALL_FACES_TITLE, AppContext
from desktop.dialogs import open_file
from desktop.pages.settings.base import SettingsGroup, SettingsHost
from desktop.widgets.helpers import path_row, signals_blocked

SR_MODEL_FILTER = "DSR checkpoints (*.pt);;All files (*)"
AUTO, ON, OFF = "auto", "on", "off"
MODES = {AUTO: "Automatic: on when a DSR model is installed", ON: "Super-resolve faces narrower than", OFF: "Off"}


class SmallFacesGroup(SettingsGroup):
    def __init__(self, ctx: AppContext, host: SettingsHost) -> None:
        super().__init__(SMALL_FACES_TITLE, ctx, host)
        form = QFormLayout(self)
        self.sr_mode = QComboBox()
        self.sr_mode.setToolTip("When small, blurry faces are enlarged before recognition")
        for mode, text in MODES.items():
            self.sr_mode.addItem(text, mode)
        self.sr_below_spin = QSpinBox()
        self.sr_below_spin.setRange(*SR_BELOW_PX_RANGE)
        self.sr_below_spin.setSuffix(" px")
        self.sr_below_spin.setToolTip("Face width: the span of the 112 px ArcFace crop in image pixels")
        row = QHBoxLayout()
        row.addWidget(self.sr_mode)
        row.addWidget(self.sr_below_spin)
        row.addStretch(1)
        form.addRow("Route", row)
        self.sr_model_edit = QLineEdit()
        self.sr_model_edit.setToolTip("The DSR model file that enlarges small faces; empty: plain upscaling")
        self.sr_model_edit.setPlaceholderText("empty: bicubic upscaling (no DSR model)")
        form.addRow("DSR model", path_row(self.sr_model_edit, "Browse…", self._browse_sr_model,
                                                "Choose the DSR model file"))
        self.sr_label = QLabel()
        self.sr_label.setWordWrap(True)
        self.sr_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("In use", self.sr_label)
        self.sr_apply = QPushButton("Apply small faces")
        self.sr_apply.setToolTip("Use the route and model chosen above")
        self.sr_apply.clicked.connect(lambda: self.apply_small_faces(
            self.chosen_route(), self.sr_below_spin.value(), self.sr_model_edit.text()))
        self.sr_model_edit.returnPressed.connect(self.sr_apply.click)
        form.addRow("", self.sr_apply)
        self.sr_mode.currentIndexChanged.connect(lambda: self.sr_below_spin.setEnabled(self.chosen_route() is True))

    def chosen_route(self) -> bool | None:
        """True (on), False (off) or None (automatic), as chosen in the Route box."""
        return {AUTO: None, ON: True, OFF: False}[self.sr_mode.currentData()]

    def choose_route(self, route: bool | None) -> None:
        self.sr_mode.setCurrentIndex(self.sr_mode.findData({None: AUTO, True: ON, False: OFF}[route]))

    def load(self, config: DesktopConfig) -> None:
        route = None if config.sr_below_px is None else config.sr_below_px > 0
        with signals_blocked(self.sr_mode, self.sr_below_spin, self.sr_model_edit):
            self.choose_route(route)
            self.sr_below_spin.setValue(config.sr_below_px or DEFAULT_SR_BELOW_PX)
            self.sr_below_spin.setEnabled(route is True)
            self.sr_model_edit.setText(config.sr_model)

    def show_engine(self) -> None:
        """What the engine does with small faces now (the settings may still be loading)."""
        if not self.ctx.engine_ready:
            self.sr_label.setText("The models are loading…" if self.ctx.engine_loading or not self.ctx.engine_error
                                  else "The models are not loaded (see the notification).")
            return
        pipeline = self.ctx.pipeline
        resolver = pipeline.resolver
        if (pipeline.sr_below_px <= 0 or resolver is None) and self.ctx.config.sr_below_px is None:
            text = ("Automatic, and off for now: no DSR model is installed (none chosen above and none in the "
                    "data folder's models/). Every face is aligned and embedded as it is.")
        elif pipeline.sr_below_px <= 0 or resolver is None:
            text = "Off: every face is aligned and embedded as it is."
        elif isinstance(resolver, SuperResolver):
            text = (f"<b>{html.escape(resolver.name)}</b> ({resolver.model.arch}, {resolver.input_size} → "
                    f"{resolver.output_size} px), from {html.escape(resolver.source)}, for faces narrower than "
                    f"{pipeline.sr_below_px:g} px")
        else:
            text = f"Bicubic upscaling (no DSR model) for faces narrower than {pipeline.sr_below_px:g} px"
        if self.ctx.resolver_error:
            text += f"<br>The DSR model is not in use: {html.escape(self.ctx.resolver_error)}"
        self.sr_label.setText(text)

    def apply_small_faces(self, on: bool | None, below_px: int, sr_model: str | Path = "") -> bool:
        """Switch the small-face route on (faces narrower than `below_px`, upscaled by the DSR
        checkpoint `sr_model`, or bicubically when it is empty), off, or to automatic (None: on
        whenever a DSR model is installed); the models reload in the background. A file that cannot
        be loaded is reported when they have (bicubic meanwhile)."""
        model = str(sr_model).strip()
        if self.host.busy:
            return self._refuse(SMALL_FACES_TITLE, "Wait until the model switch or calibration has finished.")
        if model and not Path(model).is_file():
            return self._refuse(SMALL_FACES_TITLE, f"The DSR model file {model} does not exist. Choose a DSR "
                                                   f"checkpoint (a training run's best.pt), or leave the field "
                                                   f"empty for bicubic upscaling.")
        return self._apply(SMALL_FACES_TITLE, sr_below_px=None if on is None else int(below_px) if on else 0,
                           sr_model=model)

    def choose_sr_model_file(self, path: str | Path) -> bool:
        """Use this DSR checkpoint for small faces (switching the route on)."""
        self.sr_model_edit.setText(str(path))
        return self.apply_small_faces(True, self.sr_below_spin.value(), str(path))

    def _browse_sr_model(self) -> None:
        start = str(Path(self.sr_model_edit.text()).parent) if self.sr_model_edit.text().strip() else ""
        path = open_file(self, "DSR checkpoint", start, SR_MODEL_FILTER)
        if path:
            self.choose_sr_model_file(path)
