"""Training on several GPUs from the app: torchrun as a separate process, and the cluster command.

"Run on N local GPUs" (enabled when more than one CUDA GPU is present) saves the
design with its training settings beside the new run folder and starts
``torchrun --standalone --nproc-per-node=N -m convstudio train ... --record-stream FILE``
as a QProcess. Rank 0 appends every record to FILE; a timer reads only what was
added (:class:`~core.training.record_stream.RecordStreamReader`) and hands the
records to the panel, which fills all six charts as it does for its own runs.
While such a run goes, Start is disabled; Stop sends SIGTERM, which torchrun
passes to its processes: they agree on a batch, stop there and keep the last
finished epoch's checkpoint. "Copy cluster command" puts the matching
multi-machine torchrun line on the clipboard (core.training.torchrun builds both lines).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMenu

from convstudio.core.design import save_design
from convstudio.core.cli.options import train_options
from convstudio.core.training.design_settings import settings_of
from convstudio.core.training.record_stream import RecordStreamReader
from convstudio.core.training.run_index import new_run_dir
from convstudio.core.training.torchrun import format_command, torchrun_command

POLL_MS = 200  # how often new records are read from rank 0's stream (the charts redraw on their own timer)


def record_stream_path(run_dir: Path) -> Path:
    """Where rank 0 streams its records: beside the run folder, like the saved design."""
    return run_dir.parent / f"{run_dir.name}.records.jsonl"


class ScaleOutActions(QObject):
    """The Training menu's multi-GPU entries for one train panel."""

    def __init__(self, panel, gpu_count: int | None = None):
        super().__init__(panel)
        self.setObjectName("scaleOutActions")
        self.panel = panel
        self._gpu_count = gpu_count
        self.process: QProcess | None = None
        self.run_dir: Path | None = None
        self.stream: RecordStreamReader | None = None
        self.stopping = False
        self.output = ""
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)

    @property
    def running(self) -> bool:
        """True while a torchrun run started here goes."""
        return self.process is not None

    @property
    def gpu_count(self) -> int:
        """CUDA GPUs PyTorch sees, counted on first use (it loads torch: not while the window opens)."""
        if self._gpu_count is None:
            import torch

            self._gpu_count = torch.cuda.device_count()
        return self._gpu_count

    def add_to_menu(self, menu: QMenu) -> None:
        """Append "Run on N local GPUs" and "Copy cluster command"; the first says what this machine allows."""
        menu.addSeparator()
        self.local_action = menu.addAction("Run on several local GPUs (torchrun)", self.run_local)
        self.local_action.setObjectName("actionRunLocalGpus")
        self.local_action.setEnabled(False)
        copy = menu.addAction("Copy cluster command", self.copy_cluster_command)
        copy.setObjectName("actionCopyClusterCommand")
        menu.aboutToShow.connect(self.update_local_action)

    @Slot()
    def update_local_action(self) -> None:
        """Name the GPU count in "Run on N local GPUs", enabled only with more than one."""
        count = self.gpu_count
        self.local_action.setText(f"Run on {max(count, 2)} local GPUs (torchrun)")
        self.local_action.setEnabled(count > 1)
        self.local_action.setToolTip("" if count > 1 else
                                     f"Needs more than one CUDA GPU; this machine has {count or 'none'}.")

    def _saved_design(self, run_dir: Path) -> Path:
        """The design (with its training settings) in a file torchrun's processes can read."""
        document = self.panel.document
        if document.path and not document.modified:
            return Path(document.path)
        path = run_dir.parent / f"{run_dir.name}.design.json"
        save_design(document.design, path)
        return path

    def _train_args(self, run_dir: Path, device: str | None, stream: Path | None = None) -> list[str]:
        settings, _ = settings_of(self.panel.document.design)
        # The dataset the app shows, which may not be the one the command line would pick (see default_dataset).
        arguments = [str(self._saved_design(run_dir)), "--out", str(run_dir),
                     *train_options({"dataset": settings.dataset, "device": device})]
        return arguments + (["--record-stream", str(stream)] if stream is not None else [])

    def cluster_command(self, nnodes: int = 2, nproc: int | None = None) -> str:
        """The torchrun line for ``nnodes`` machines of ``nproc`` GPUs each (HOST to fill in)."""
        run_dir = new_run_dir(self.panel.runs_root, self.panel.document.design.name)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        command = torchrun_command(nproc or max(self.gpu_count, 1), self._train_args(run_dir, "cuda"),
                                   nnodes=nnodes, rdzv_endpoint="HOST:29500", node_rank=None)
        return format_command(command)

    @Slot()
    def copy_cluster_command(self) -> str:
        """Put the cluster command on the clipboard and say so."""
        line = self.cluster_command()
        QGuiApplication.clipboard().setText(line)
        self.panel.show_message("Copied the torchrun command for 2 machines; replace HOST with the first "
                                "machine's address and run it on every machine (the design file must be "
                                "readable there).")
        return line

    @Slot()
    def run_local(self, nproc: int | None = None, device: str | None = "cuda") -> bool:
        """Start torchrun with ``nproc`` processes here; False (with a message) when it cannot."""
        if self.process is not None or self.panel.running:
            self.panel.show_message("A run is in progress: stop it first.", error=True)
            return False
        report = self.panel.document.report
        if not report.valid:
            self.panel.show_message(f"Cannot train this design: {report.first_error()}", error=True)
            return False
        nproc = nproc or self.gpu_count
        self.run_dir = new_run_dir(self.panel.runs_root, self.panel.document.design.name)
        self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        stream = record_stream_path(self.run_dir)
        stream.unlink(missing_ok=True)
        self.stream = RecordStreamReader(stream)
        program, *arguments = torchrun_command(nproc, self._train_args(self.run_dir, device, stream))
        self.output = ""
        self.stopping = False
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._on_output)
        process.finished.connect(self._on_finished)
        self.process = process
        settings, _ = settings_of(self.panel.document.design)
        self.panel.begin_external_run(self.run_dir, settings.optimizer, report,
                                      f"Starting {nproc} processes with torchrun: loading {settings.dataset}…")
        process.start(program, arguments)
        self._poll.start()
        self.panel.show_message(f"Training on {nproc} processes with torchrun; run folder {self.run_dir}")
        return True

    def request_stop(self) -> None:
        """Ask torchrun's processes to stop (SIGTERM, passed on to each); the run ends as a Ctrl-C would."""
        if self.process is not None:
            self.stopping = True
            self.process.terminate()

    def stop(self, wait_ms: int = 20_000) -> None:
        """Interrupt torchrun (its processes end their runs cleanly) and wait (the window is closing)."""
        if self.process is None:
            return
        self.request_stop()
        if not self.process.waitForFinished(wait_ms):
            self.process.kill()
            self.process.waitForFinished(5000)

    @Slot()
    def _on_output(self) -> None:
        self.output += bytes(self.process.readAllStandardOutput()).decode(errors="replace")

    @Slot()
    def _on_poll(self) -> None:
        """Hand the records rank 0 added since the last poll to the panel."""
        if self.stream is not None:
            records = self.stream.read_new()
            if records:
                self.panel.take_records(records)

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, exit_code: int, _status) -> None:
        self._poll.stop()
        self._on_poll()  # the last records, the end among them
        process, self.process = self.process, None
        process.deleteLater()
        if self.stream is not None:
            self.stream.path.unlink(missing_ok=True)
        self.panel.end_external_run()
        if exit_code == 0:
            self.panel.show_message(f"The {self.run_dir.name} run finished on several processes.")
        elif self.stopping:
            self.panel.show_message(f"Stopped the {self.run_dir.name} run; its last finished epoch is kept "
                                    "(resume it from the Runs tab).")
        else:
            tail = self.output.strip().splitlines()[-3:]
            self.panel.show_message(f"torchrun ended with status {exit_code}: " + " / ".join(tail), error=True)
