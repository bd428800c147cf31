"""The dashboard's live charts: loss, accuracy, learning rate, gradients, update ratios, optimizer state.

The charts draw from a :class:`~convstudio.gui.charts.buffers.RunCurves` that the
training worker fills. A QTimer at :data:`REFRESH_HZ` compares each chart's
data versions with what it drew last and calls ``setData`` only on charts whose
data changed, at most :data:`CHARTS_PER_TICK` per tick and each chart at most
every :data:`MIN_INTERVAL_S`: between the engine's read-backs nothing is
redrawn at all, a burst of new data is drawn over a few ticks instead of in one
long repaint, and charts out of sight cost nothing. On a two-core laptop the
GUI's drawing takes CPU time straight from training, so this budget is what
keeps a run with the dashboard open at the headless engine's speed.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSignalBlocker, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QGridLayout, QWidget

from convstudio.core.training.optimizer_names import state_names
from convstudio.gui.charts.buffers import RunCurves
from convstudio.gui.charts.live_chart import LiveChart, colour

REFRESH_HZ = 10

OPTIMIZER_TITLES = {"adam": "Adam state (eq. 39)", "rmsprop": "RMSprop state (eq. 38)", "adagrad": "AdaGrad state",
                    "sgd": "SGD momentum", "lbfgs": "L-BFGS (no per-layer state)"}
_STATE_LABELS = {"s": "‖s‖", "r": "‖r‖", "s_hat": "‖ŝ‖", "r_hat": "‖r̂‖", "accumulator": "‖Σg²‖",
                 "momentum": "‖v‖", "step_mean": "step mean", "step_max": "step max"}
_EPOCH_SYMBOL = "o"
CHARTS_PER_TICK = 1
# The least time between two redraws of a chart, in seconds: the loss and accuracy move fastest.
MIN_INTERVAL_S = {"loss": 1.0, "accuracy": 1.0, "rate": 2.5, "gradient": 2.5, "ratio": 2.5, "optimizer": 2.5}
# Which groups of RunCurves each chart draws (see RunCurves.versions); the order is the redraw priority.
_DEPENDS_ON = {"loss": ("steps", "epochs"), "accuracy": ("steps", "epochs"), "rate": ("steps",),
               "gradient": ("layers",), "ratio": ("layers",), "optimizer": ("optimizer",)}
_ORDER = tuple(_DEPENDS_ON)


class TrainingCharts(QWidget):
    """Six live charts over one run's curves, with an optional second run overlaid (dashed)."""

    export_requested = Signal(object)  # a LiveChart whose PNG button was pressed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("liveCharts")
        self.curves = RunCurves()
        self.overlay: RunCurves | None = None
        self.overlay_label = ""
        self.optimizer = "adam"
        self.loss_chart = LiveChart("Loss", "lossPlot", "cross-entropy", parent=self)
        self.accuracy_chart = LiveChart("Accuracy", "accuracyPlot", "accuracy", y_limits=(0, 1.02), parent=self)
        self.rate_chart = LiveChart("Learning rate", "learningRatePlot", "η", y_from_zero=True, parent=self)
        self.gradient_chart = LiveChart("Gradient norm per layer", "gradientPlot", "‖∇θ‖", log_y=True, parent=self)
        self.ratio_chart = LiveChart("Update / weight ratio", "updateRatioPlot", "‖Δθ‖ / ‖θ‖", log_y=True, parent=self)
        self.optimizer_chart = LiveChart("Optimizer state", "optimizerPlot", "norm / step", log_y=True, parent=self)
        self.layer_choice = QComboBox(self)
        self.layer_choice.setObjectName("optimizerLayer")
        self.layer_choice.setToolTip("The layer whose optimizer state is shown")
        self.layer_choice.setMinimumContentsLength(8)
        self.layer_choice.currentTextChanged.connect(self._on_layer_chosen)
        self.optimizer_chart.header.insertWidget(1, self.layer_choice)
        self.charts = (self.loss_chart, self.accuracy_chart, self.rate_chart,
                       self.gradient_chart, self.ratio_chart, self.optimizer_chart)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        for index, chart in enumerate(self.charts):
            grid.addWidget(chart, index // 3, index % 3)
            chart.export_requested.connect(self.export_requested)
        self._drawn: dict[str, tuple] = {}
        self._drawn_at: dict[str, float] = {}
        self._next = 0
        self._chart_of = dict(zip(_ORDER, self.charts))
        self.timer = QTimer(self)
        self.timer.setInterval(1000 // REFRESH_HZ)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self._make_fixed_curves()
        self.set_optimizer("adam")

    # -- what is shown ------------------------------------------------------------
    def show_curves(self, curves: RunCurves) -> None:
        """Draw ``curves`` from now on (a new run, or a reopened one); drops any overlay."""
        self.curves = curves
        self.overlay = None
        for chart in (self.gradient_chart, self.ratio_chart):
            chart.remove_curves()
        for chart in (self.loss_chart, self.accuracy_chart, self.rate_chart):
            chart.remove_curves(keep=self._fixed_keys)
        with QSignalBlocker(self.layer_choice):
            self.layer_choice.clear()
        self.optimizer_chart.remove_curves()
        self._drawn.clear()
        self.draw_all()

    def set_overlay(self, curves: RunCurves | None, label: str = "") -> None:
        """Overlay another run's loss, accuracy and learning rate (dashed), or remove the overlay."""
        self.overlay = curves
        self.overlay_label = label
        for chart in (self.loss_chart, self.accuracy_chart, self.rate_chart):
            chart.remove_curves(keep=self._fixed_keys)
        self._drawn.clear()
        self.draw_all()

    def set_optimizer(self, name: str) -> None:
        """Switch the optimizer chart to ``name``'s state (adam, rmsprop, adagrad, sgd, lbfgs)."""
        self.optimizer = name
        self.optimizer_chart.title_label.setText(f"<b>{OPTIMIZER_TITLES.get(name, name)}</b>")
        self.optimizer_chart.remove_curves()
        self._drawn.pop("optimizer", None)
        self.draw_all()

    def prepare_layers(self, layers: list[str]) -> None:
        """Create the per-layer curves before the first statistics arrive.

        Their first paint (legend text, pens) is the most expensive one; done
        here, it happens while the child process starts, not during training.
        """
        for chart in (self.gradient_chart, self.ratio_chart):
            for index, layer in enumerate(layers):
                chart.curve(layer, layer, colour(index))
        with QSignalBlocker(self.layer_choice):
            self.layer_choice.clear()
            self.layer_choice.addItems(layers)
        for index, key in enumerate(self._optimizer_keys()):
            self.optimizer_chart.curve(key, _STATE_LABELS.get(key, key), colour(index), dashed=key.startswith("step"))

    def _optimizer_keys(self) -> list[str]:
        return [*state_names(self.optimizer), "step_mean", "step_max"]

    # -- drawing ------------------------------------------------------------------
    def _make_fixed_curves(self) -> None:
        loss, accuracy = self.loss_chart, self.accuracy_chart
        loss.curve("loss", "batch", colour(7))
        loss.curve("smoothed", "smoothed", colour(0))
        loss.curve("train_loss", "train (epoch)", colour(2), symbol=_EPOCH_SYMBOL)
        loss.curve("val_loss", "validation", colour(1), symbol=_EPOCH_SYMBOL)
        accuracy.curve("accuracy", "batch", colour(7))
        accuracy.curve("train_accuracy", "train (epoch)", colour(2), symbol=_EPOCH_SYMBOL)
        accuracy.curve("val_accuracy", "validation", colour(1), symbol=_EPOCH_SYMBOL)
        self.rate_chart.curve("learning_rate", "η", colour(4))
        self._fixed_keys = {"loss", "smoothed", "train_loss", "val_loss", "accuracy", "train_accuracy",
                            "val_accuracy", "learning_rate"}

    @Slot()
    def refresh(self, limit: int | None = CHARTS_PER_TICK) -> int:
        """Redraw up to ``limit`` charts whose data changed (all of them, at once, with None); returns how many.

        The timer's ticks redraw at most :data:`CHARTS_PER_TICK` charts, each no
        more often than its :data:`MIN_INTERVAL_S`: a tick's repaint stays short,
        and the GUI process leaves the CPU to training.
        """
        if self.visibleRegion().isEmpty():  # hidden, or a dock tab behind another: draw when seen
            return 0
        now = time.monotonic()
        versions = self.curves.versions
        overlay = sum(self.overlay.versions.values()) if self.overlay is not None else -1
        due = []
        for name, groups in _DEPENDS_ON.items():
            key = (id(self.curves), overlay, *(versions[group] for group in groups))
            drawn = self._drawn.get(name)
            waited = now - self._drawn_at.get(name, 0.0) >= MIN_INTERVAL_S[name]
            # An epoch's end (a validation point) is worth showing at once.
            new_epoch = "epochs" in groups and (drawn is None or drawn[-1] != key[-1])
            if drawn != key and (limit is None or waited or new_epoch):
                due.append((name, key))
        # Start after the chart drawn last, so that no chart waits behind the others for long.
        due.sort(key=lambda item: (_ORDER.index(item[0]) - self._next) % len(_ORDER))
        for name, key in due[:limit]:
            self._drawn[name] = key
            self._drawn_at[name] = now
            getattr(self, f"_draw_{name}")()
            self._chart_of[name].update_ranges()
            self._next = (_ORDER.index(name) + 1) % len(_ORDER)
        return len(due[:limit])

    def draw_all(self) -> None:
        """Redraw every chart whose data changed now (for tests and screenshots)."""
        self.refresh(None)

    def set_run_length(self, steps: int | None) -> None:
        """Fix every chart's x axis to the run's length (a live run), or None to fit the data."""
        for chart in self.charts:
            chart.set_x_extent(steps)
        self._drawn.clear()

    def _draw_loss(self) -> None:
        curves, chart = self.curves, self.loss_chart
        chart.set_data("loss", *curves.loss.data())
        chart.set_data("smoothed", *curves.smoothed_loss.data())
        chart.set_data("train_loss", *curves.train_loss.data())
        chart.set_data("val_loss", *curves.val_loss.data())
        self._draw_overlay(chart, (("overlay_loss", "smoothed_loss", "smoothed", None),
                                   ("overlay_val", "val_loss", "validation", _EPOCH_SYMBOL)))

    def _draw_accuracy(self) -> None:
        curves, chart = self.curves, self.accuracy_chart
        chart.set_data("accuracy", *curves.accuracy.data())
        chart.set_data("train_accuracy", *curves.train_accuracy.data())
        chart.set_data("val_accuracy", *curves.val_accuracy.data())
        self._draw_overlay(chart, (("overlay_acc", "val_accuracy", "validation", _EPOCH_SYMBOL),))

    def _draw_rate(self) -> None:
        self.rate_chart.set_data("learning_rate", *self.curves.learning_rate.data())
        self._draw_overlay(self.rate_chart, (("overlay_rate", "learning_rate", "η", None),))

    def _draw_overlay(self, chart: LiveChart, curves: tuple) -> None:
        if self.overlay is None:
            return
        for index, (key, series_name, text, symbol) in enumerate(curves):
            chart.curve(key, f"{self.overlay_label} {text}", colour(3 + 2 * index), dashed=True, symbol=symbol)
            chart.set_data(key, *getattr(self.overlay, series_name).data())

    def _draw_gradient(self) -> None:
        self._draw_per_layer(self.gradient_chart, self.curves.grad_norm)
        self._update_layer_choice()

    def _draw_ratio(self) -> None:
        self._draw_per_layer(self.ratio_chart, self.curves.update_ratio)

    @staticmethod
    def _draw_per_layer(chart: LiveChart, table: dict) -> None:
        for index, (layer, series) in enumerate(table.items()):
            chart.curve(layer, layer, colour(index))
            chart.set_data(layer, *series.data())

    def _update_layer_choice(self) -> None:
        layers = list(self.curves.optimizer_state)
        if layers != [self.layer_choice.itemText(i) for i in range(self.layer_choice.count())]:
            chosen = self.layer_choice.currentText()
            with QSignalBlocker(self.layer_choice):
                self.layer_choice.clear()
                self.layer_choice.addItems(layers)
                if chosen in layers:
                    self.layer_choice.setCurrentText(chosen)
            self._drawn.pop("optimizer", None)

    def _draw_optimizer(self) -> None:
        self._update_layer_choice()
        layer = self.layer_choice.currentText()
        named = self.curves.optimizer_state.get(layer, {})
        for index, key in enumerate(self._optimizer_keys()):
            series = named.get(key)
            if series is None:
                continue
            self.optimizer_chart.curve(key, _STATE_LABELS.get(key, key), colour(index), dashed=key.startswith("step"))
            self.optimizer_chart.set_data(key, *series.data())

    @Slot(str)
    def _on_layer_chosen(self, _layer: str) -> None:
        self._drawn.pop("optimizer", None)
        self.draw_all()
