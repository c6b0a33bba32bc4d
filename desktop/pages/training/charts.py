"""The Training tab's charts, one grid per job: a DSR run charts its losses, learning rate, validation
PSNR and identity similarity; a fine-tuning run its ArcFace, alignment and total losses, learning rate and
validation metrics, "stage 1" (head only) and "stage 2" (whole model) being two series of each chart.
Events only store points; `refresh()` (the page's ~10 Hz timer) repaints what changed."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QSizePolicy, QStackedWidget, QWidget

from desktop.widgets.line_chart import LineChart
from trainer.events import Step, Validation

FT_LOSSES = (  # loss key, chart title, tooltip
    ("arcface", "ArcFace loss / step", "ArcFace loss of the super-resolved faces over the training people"),
    ("alignment", "Alignment loss / step", "1 − cos(SR, HR): how far a small face's embedding is from the sharp "
                                           "face's (measured in stage 1, trained in stage 2)"),
    ("total", "Total loss / step", "The weighted sum that is minimised"))
FT_VALIDATION = (
    ("similarity", "Val SR–HR similarity", "Mean cos(SR, HR) on the validation faces: the best one gives best.pt"),
    ("accuracy", "Val head accuracy", "Top-1 of the ArcFace head on validation faces of people seen in training"),
    ("verification", "Val verification SR vs HR", "Same/different-person accuracy of pairs of a sharp and a "
                                                  "small (super-resolved) face"),
    ("verification_hr", "Val verification HR", "Same/different-person accuracy of pairs of sharp faces"))
FT_CHART_MIN_SIZE = (150, 130)


def stage_series(stage: int | None) -> str:
    """The chart series of a fine-tuning stage: both stages share the charts, one series each."""
    return f"stage {stage or 1}"


class TrainingCharts(QStackedWidget):
    """Page 0: the DSR charts (two a row); page 1: the fine-tuning charts (four a row)."""

    def __init__(self) -> None:
        super().__init__()
        self.loss_chart = LineChart("Losses (per step)")
        self.psnr_chart = LineChart("Validation PSNR (dB)")
        self.identity_chart = LineChart("Validation identity similarity")
        self.lr_chart = LineChart("Learning rate")
        self.dsr_charts = (self.loss_chart, self.psnr_chart, self.identity_chart, self.lr_chart)
        self.ft_loss_charts = {key: LineChart(title) for key, title, _ in FT_LOSSES}
        self.ft_val_charts = {key: LineChart(title) for key, title, _ in FT_VALIDATION}
        for charts, about in ((self.ft_loss_charts, FT_LOSSES), (self.ft_val_charts, FT_VALIDATION)):
            for key, _, tip in about:
                charts[key].setToolTip(f"{tip}. Stage 1 trains the head only, stage 2 the whole model.")
        self.ft_lr_chart = LineChart("Learning rate")
        self.ft_charts = (*self.ft_loss_charts.values(), self.ft_lr_chart, *self.ft_val_charts.values())
        self.all_charts = (*self.dsr_charts, *self.ft_charts)
        for charts, columns in ((self.dsr_charts, 2), (self.ft_charts, 4)):
            grid_page = QWidget()
            grid = QGridLayout(grid_page)
            grid.setContentsMargins(0, 0, 0, 0)
            for i, chart in enumerate(charts):
                if columns > 2:
                    chart.setMinimumSize(*FT_CHART_MIN_SIZE)  # four a row still fit a small window
                grid.addWidget(chart, i // columns, i % columns)
            self.addWidget(grid_page)

    def charts_of(self, finetune: bool) -> tuple[LineChart, ...]:
        return self.ft_charts if finetune else self.dsr_charts

    def show_job(self, finetune: bool) -> None:
        """Show the charts of this job; only they count for the page's minimum size."""
        self.setCurrentIndex(1 if finetune else 0)
        for i in range(self.count()):
            shown = i == self.currentIndex()
            policy = QSizePolicy.Policy.Preferred if shown else QSizePolicy.Policy.Ignored
            self.widget(i).setSizePolicy(policy, policy)

    def add_step(self, event: Step, finetune: bool) -> None:
        if finetune:
            series = stage_series(event.stage)
            for name, chart in self.ft_loss_charts.items():
                chart.add_point(series, event.step, event.losses.get(name))
            self.ft_lr_chart.add_point(series, event.step, event.lr)
        else:
            for name, value in event.losses.items():
                self.loss_chart.add_point(str(name), event.step, value)
            self.lr_chart.add_point("lr", event.step, event.lr)

    def add_validation(self, event: Validation, finetune: bool) -> None:
        metrics = event.metrics
        if finetune:
            for key, chart in self.ft_val_charts.items():
                chart.add_point(stage_series(event.stage), event.epoch + 1, metrics.get(key))
        else:
            for key, name in (("psnr", "DSR"), ("psnr_bicubic", "bicubic")):
                self.psnr_chart.add_point(name, event.step, metrics.get(key))
            for key, name in (("identity", "DSR"), ("identity_bicubic", "bicubic")):
                self.identity_chart.add_point(name, event.step, metrics.get(key))

    def refresh(self) -> None:
        for chart in self.all_charts:
            chart.refresh()

    def clear_points(self) -> None:
        for chart in self.all_charts:
            chart.clear()
