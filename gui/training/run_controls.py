"""The strip above the dashboard's charts: Start, Pause/Resume, Stop, the progress bar, status and messages.

:class:`RunControls` only shows: the train panel tells it what happened
(``show_*``) and connects the buttons to what they do. It keeps the run's
:class:`~convstudio.gui.training.progress.RunProgress` for the bar's text (epoch, batch,
images per second, time left).
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from convstudio.core.training.records import RunEnded, RunStarted, StepRecord
from convstudio.gui import theme
from convstudio.gui.training.progress import RunProgress, sentence

PROGRESS_INTERVAL_S = 0.5  # QProgressBar.setValue repaints at once (a few ms): twice a second is plenty
PAUSED = "Paused between batches; press Resume to go on."


class RunControls(QWidget):
    """Buttons, progress bar (``trainProgress``), a two-line status and a message line for problems."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("runControls")
        self.start_button = self._button("startButton", "Start", "Train the design with these settings")
        self.pause_button = self._button("pauseButton", "Pause", "Hold the run between batches")
        self.stop_button = self._button("stopButton", "Stop", "End the run before its next batch")
        self.progress = QProgressBar(self)
        self.progress.setObjectName("trainProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not started")
        self.status = QLabel(self)
        self.status.setObjectName("trainStatus")
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # Two lines, always: a label that grows when a run starts would move and repaint every chart below it.
        self.status.setFixedHeight(2 * self.status.fontMetrics().lineSpacing() + 2)
        self.message = QLabel(self)
        self.message.setObjectName("trainMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        row = QHBoxLayout()
        for widget in (self.start_button, self.pause_button, self.stop_button):
            row.addWidget(widget)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.message)
        self.model: RunProgress | None = None
        self._shown_at = 0.0
        self.show_state(running=False, paused=False)

    def _button(self, name: str, text: str, tip: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setToolTip(tip)
        return button

    def show_state(self, running: bool, paused: bool) -> None:
        """Enable the buttons that apply."""
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Resume" if paused else "Pause")

    def show_message(self, text: str, error: bool = False) -> None:
        """Say something below the status (empty text hides the line)."""
        colour = theme.hex_color(theme.error_color()) if error else None
        self.message.setStyleSheet(f"color: {colour};" if colour else "")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- a run's course --------------------------------------------------------------------
    def show_starting(self, text: str) -> None:
        self.model = None
        self.status.setText(text)
        self.status.setToolTip("")
        self.progress.setRange(0, 0)  # busy until the run reports its size

    def show_started(self, record: RunStarted, paused: bool) -> RunProgress:
        """The run's size is known: the bar counts its steps from now on."""
        self.model = RunProgress.from_started(record)
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * self.model.fraction))
        self.progress.setFormat(f"Epoch {record.start_epoch + 1}/{record.epochs} · starting")
        resumed = f", resumed at epoch {record.start_epoch + 1}" if record.start_epoch else ""
        text = (f"Training on {record.device_reason}. {record.dataset}: {record.train_size:,} training, "
                f"{record.val_size:,} validation, {record.test_size:,} test images; {record.total_params:,} "
                f"parameters{resumed}. Run folder: {record.run_dir}")
        self.status.setToolTip(text)  # the label shows two lines; a long path may need more
        self.status.setText(text + ("\n" + PAUSED if paused else ""))
        return self.model

    def show_steps(self, records: list[StepRecord]) -> None:
        if self.model is None:
            return
        self.model.add(records[-1])
        now = time.monotonic()
        if now - self._shown_at >= PROGRESS_INTERVAL_S:
            self._shown_at = now
            self._show_progress(self.model.text())

    def show_epoch_end(self) -> None:
        self._shown_at = 0.0  # show the epoch's last batch with the next steps

    def show_ended(self, ended: RunEnded) -> None:
        if ended.reason.failed:
            self.show_message(f"The run ended: {ended.message}. The run folder {ended.run_dir} is kept.", error=True)
            self.status.setText("Run failed.")
        else:
            self.status.setText(sentence(ended.message))
        if self.model is not None:
            self._show_progress(f"{self.model.text().split(' · ')[0]} · {ended.reason.label}")

    def show_failed(self, message: str) -> None:
        self.show_message(f"Training could not run: {message}", error=True)
        self.status.setText("Run failed.")

    def show_finished(self) -> None:
        self.progress.setRange(0, 1000)
        if self.model is None:
            self.progress.setValue(0)
            self.progress.setFormat("Not started")

    def _show_progress(self, text: str) -> None:
        self.progress.setValue(int(1000 * self.model.fraction))
        self.progress.setFormat(text)
