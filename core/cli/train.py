"""``convstudio train``: the training engine on the command line.

Settings come from the design file's ``training`` section when it has one, then
from the options given (:mod:`convstudio.core.cli.options`). Without ``--out`` the run
folder goes under the runs root (:func:`core.paths.default_runs_root`), in the
design's folder, so the app's Runs tab lists it. Progress goes to stderr,
per-epoch metrics to stdout.
Exit status: 0 finished (or stopped early by early stopping), 1 the run failed
(non-finite loss, out of memory, an error), 2 bad input, 130 interrupted by
Ctrl-C (SIGINT), 143 by SIGTERM (what torchrun, a scheduler or the app's
multi-GPU Stop sends). Either signal stops the run before its next batch: the
last finished epoch's checkpoint stays intact and ``run.json`` says "stopped"
with the signal; a second signal quits at once. An image folder's first
decoding shows its progress on stderr (a line redrawn on a terminal, else one
summary line), and a signal cancels it: the run then ends stopped before training.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from convstudio.core.cli.options import (TRAINING_OPTIONS, add_data_dir_option, add_training_options,
                                         settings_error_message, settings_from_args)
from convstudio.core.design import DesignFileError, load_design
from convstudio.core.paths import default_runs_root
from convstudio.core.training.records import (
    CompileReport, EndReason, EpochRecord, RunEnded, RunStarted, StepRecord,
)

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_train_parser(commands) -> None:
    """Register ``train`` on the CLI's subcommands."""
    train = commands.add_parser("train", help="train a design headless, writing a run folder")
    train.add_argument("design", nargs="?", metavar="DESIGN.json", help="the design (not needed with --resume)")
    add_training_options(train)
    add_data_dir_option(train)
    train.add_argument("--download", action="store_true",
                       help="download CIFAR10, MNIST or Fashion-MNIST into the data folder if missing")
    train.add_argument("--out", metavar="RUN_DIR",
                       help="run folder to write (default: a new folder for the design under the runs root, "
                            "$CONVSTUDIO_RUNS or the app's, where the app's Runs tab lists it)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint, with the settings it "
                       "stored; add --epochs N to train on to N epochs (no other training option)")
    train.add_argument("--overwrite", action="store_true",
                       help="let --out name a folder that holds another run, replacing that run's files")
    train.add_argument("--record-stream", metavar="FILE",
                       help="append every training record to FILE as JSON lines, for a program watching the run "
                            "(the app's multi-GPU mode)")
    train.set_defaults(handler=run_train)


class _Progress:
    """A one-line progress bar on stderr, redrawn a few times a second at most."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.last_draw = 0.0

    def step(self, record: StepRecord, epochs: int) -> None:
        import time

        now = time.monotonic()
        if now - self.last_draw < 0.2 and record.batch + 1 < record.batches_per_epoch:
            return
        self.last_draw = now
        done = (record.batch + 1) / record.batches_per_epoch
        bar = "#" * int(done * 24)
        self.stream.write(f"\repoch {record.epoch + 1}/{epochs} [{bar:<24}] {record.batch + 1}/{record.batches_per_epoch}"
                          f"  loss {record.loss:.4f}  acc {record.accuracy:.3f}  {record.images_per_second:,.0f} img/s ")
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r" + " " * 100 + "\r")
        self.stream.flush()


class _DecodeProgress:
    """An image folder's first decoding on stderr: redrawn at most :attr:`INTERVAL_S` apart on a terminal.

    Elsewhere (a log file, a pipe) nothing is drawn, and :meth:`finish` writes
    one summary line. A folder found decoded already says nothing. The engine
    calls it as ``data_progress(done, total)``; set :attr:`folder` to the image
    folder the run loads (None for the built-in and downloadable datasets, whose
    reports are not images).
    """

    INTERVAL_S = 0.25

    def __init__(self, stream=None, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.folder: str | None = None
        self.done = self.total = 0
        self._started_at: float | None = None
        self._drawn_at: float | None = None
        self._drawn_width = 0  # of the line on screen, which the summary must cover
        self._finished = False
        try:
            self.interactive = self.stream.isatty()
        except (AttributeError, ValueError):  # a closed or unusual stream
            self.interactive = False

    def __call__(self, done: int, total: int) -> None:
        if self.folder is None or self._finished:
            return
        if self._started_at is None:
            if done >= total:
                return  # decoded before: the cache opens at once
            self._started_at = self.clock()
        self.done, self.total = done, total
        now = self.clock()
        if not self.interactive or (done < total and self._drawn_at is not None
                                    and now - self._drawn_at < self.INTERVAL_S):
            return
        self._drawn_at = now
        line = f"decoding image folder {self.folder}: {done:,} of {total:,} images ({100 * done // max(total, 1)}%)"
        self._drawn_width = len(line)
        self.stream.write("\r" + line)
        self.stream.flush()

    def finish(self) -> None:
        """The decoding is over (the run started, or ended first): one line saying how it went."""
        if self._started_at is None or self._finished:
            return
        self._finished = True
        seconds = self.clock() - self._started_at
        if self.done >= self.total:
            line = f"decoded image folder {self.folder}: {self.total:,} images in {seconds:.1f} s"
        else:
            line = f"decoding image folder {self.folder} cancelled after {self.done:,} of {self.total:,} images"
        if self.interactive:
            line = "\r" + line.ljust(self._drawn_width)
        self.stream.write(line + "\n")
        self.stream.flush()


class _StopOnSignal:
    """While active, SIGINT and SIGTERM ask the run to stop before its next batch; a second signal quits at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, control):
        self.control = control
        self.received: int | None = None
        self.training = False  # the first batch is near (RunStarted came): else the data is still loading
        self._previous: dict = {}

    def __enter__(self):
        try:
            self._previous = {number: signal.signal(number, self._on_signal) for number in self.SIGNALS}
        except ValueError:  # not the main thread (an embedding program): leave signals alone
            self._previous = {}
        return self

    def __exit__(self, *exc_info):
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    @property
    def exit_status(self) -> int:
        """130 for SIGINT, 143 for SIGTERM (128 + the signal's number, as shells report it)."""
        return 128 + (self.received or signal.SIGINT)

    def _on_signal(self, number, _frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt  # the second signal: do not wait for the batch
        self.received = number
        name = signal.Signals(number).name
        self.control.stop(name)
        what = ("stopping before the next batch; the last finished epoch's checkpoint is kept" if self.training
                else "stopping before training begins (an image folder's decoding is cancelled)")
        try:
            sys.stderr.write(f"\n{name}: {what} (send it again to quit at once)\n")
            sys.stderr.flush()
        except RuntimeError:  # stderr was being written when the signal came
            pass


def _options_resume_cannot_take(args: argparse.Namespace) -> list[str]:
    """The options given with --resume that it would otherwise ignore (a run resumes with its stored settings)."""
    given = [f"--{option.replace('_', '-')}" for option in TRAINING_OPTIONS
             if option != "epochs" and getattr(args, option, None) is not None]
    if args.design:
        given.insert(0, f"a design ({args.design})")
    return given + [flag for flag, value in (("--out", args.out), ("--overwrite", args.overwrite)) if value]


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``convstudio train``."""
    # Imported here, not at the top: building the parser (``convstudio check``) must not load torch.
    from convstudio.core.training.engine import TrainingRun
    from convstudio.core.training.run_folder import RunFolderError
    from convstudio.core.training.run_index import new_run_dir
    from convstudio.core.training.setup import TrainingSetupError

    from convstudio.core.data import DATASET_NAMES

    if int(os.environ.get("RANK", "0")) != 0:
        # Under torchrun only rank 0 talks; the others train silently.
        sys.stdout = sys.stderr = open(os.devnull, "w")
    decoding = _DecodeProgress()
    try:
        if args.resume:
            ignored = _options_resume_cannot_take(args)
            if ignored:
                print(f"convstudio train: --resume continues a run with the settings in its settings.json, so it "
                      f"cannot take {', '.join(ignored)}: leave {'it' if len(ignored) == 1 else 'them'} out (resume "
                      "takes --epochs to train on to more epochs, --download, --data-dir and --record-stream), or "
                      "start a new run", file=sys.stderr)
                return EXIT_BAD_INPUT
            settings = None
            if args.epochs is not None:
                from convstudio.core.training.run_folder import RunFolder

                folder = RunFolder(Path(args.resume))
                folder.check_resumable()
                settings, note = folder.train_on_to(args.epochs)
                if note:
                    print(note, file=sys.stderr)
            run = TrainingRun(None, settings, args.resume, resume=True, download=args.download,
                              data_progress=decoding)
        else:
            if not args.design:
                print("convstudio train: give a design file, or --resume RUN_DIR", file=sys.stderr)
                return EXIT_BAD_INPUT
            design = load_design(args.design)
            settings = settings_from_args(args, design)
            out = args.out or str(new_run_dir(default_runs_root(), design.name))
            run = TrainingRun(design, settings, out, download=args.download, overwrite=args.overwrite,
                              data_progress=decoding)
        if run.settings.dataset.strip().lower() not in DATASET_NAMES:
            decoding.folder = run.settings.dataset
        progress = _Progress()
        records = run.records()
        ended = None
        signals = _StopOnSignal(run.control)
        stream = _record_stream(args)
        try:
            with signals:
                for record in records:
                    decoding.finish()  # any record comes after the data has loaded (or its loading was cancelled)
                    signals.training = True
                    if stream is not None:
                        stream.write(record)
                    if isinstance(record, RunEnded):
                        ended = record
                    else:
                        _show(record, progress, run.settings.epochs)
        except KeyboardInterrupt:  # a second signal: the run's status says it was interrupted
            records.close()
            decoding.finish()
            progress.clear()
            print(f"interrupted; resume with: convstudio train --resume {run.folder.path}", file=sys.stderr)
            return signals.exit_status
        finally:
            records.close()
            if stream is not None:
                stream.close()
    except TrainingSetupError as error:
        decoding.finish()
        hint = (" Or add --download to fetch it now, or --data-dir DIR to read it from another folder."
                if error.missing_dataset and not args.download else "")
        print(f"convstudio train: {error}{hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DesignFileError, RunFolderError) as error:
        print(f"convstudio train: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValidationError, ValueError) as error:
        print(f"convstudio train: invalid settings: {settings_error_message(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl-C before training began (reading the design, loading torch)
        decoding.finish()
        print("convstudio train: interrupted before training began", file=sys.stderr)
        return 128 + signal.SIGINT
    progress.clear()
    summary = f"{ended.reason.value}: {ended.message}"
    if ended.test_accuracy is not None:
        summary += f"; test accuracy {ended.test_accuracy:.3f}, test loss {ended.test_loss:.4f}"
    if ended.dropout is not None:
        d = ended.dropout
        summary += (f"; dropout: weight scaling acc {d.weight_scaling_accuracy:.3f} NLL {d.weight_scaling_nll:.4f},"
                    f" Monte Carlo (T={d.samples}) acc {d.monte_carlo_accuracy:.3f} NLL {d.monte_carlo_nll:.4f}")
    print(summary)
    if signals.received is not None and ended.reason == EndReason.STOPPED:
        print(f"interrupted by {signal.Signals(signals.received).name}; resume with: "
              f"convstudio train --resume {run.folder.path}", file=sys.stderr)
        return signals.exit_status
    return EXIT_OK if ended.reason.completed else EXIT_RUN_FAILED


def _record_stream(args: argparse.Namespace):
    """The --record-stream writer; rank 0 only (the others' records are rank 0's)."""
    if not getattr(args, "record_stream", None) or int(os.environ.get("RANK", "0")) != 0:
        return None
    from convstudio.core.training.record_stream import RecordStreamWriter

    return RecordStreamWriter(args.record_stream)


def _show(record, progress: _Progress, epochs: int) -> None:
    """Print a record: the start and transfer notes on stderr, the progress bar, one line per epoch on stdout."""
    if isinstance(record, RunStarted):
        print(f"training on {record.device_reason}; {record.dataset}: {record.train_size} train, "
              f"{record.val_size} validation, {record.test_size} test images; run folder "
              f"{record.run_dir}", file=sys.stderr)
        if record.start_epoch:
            print(f"resuming after epoch {record.start_epoch}", file=sys.stderr)
        if record.transfer_summary:
            print(record.transfer_summary, file=sys.stderr)
        if record.frozen_layers:
            print(f"frozen: {', '.join(record.frozen_layers)}", file=sys.stderr)
    elif isinstance(record, StepRecord):
        progress.step(record, epochs)
    elif isinstance(record, CompileReport):
        progress.clear()
        print(record.message, file=sys.stderr)
    elif isinstance(record, EpochRecord):
        progress.clear()
        print(f"epoch {record.epoch + 1}: train loss {record.train_loss:.4f} acc {record.train_accuracy:.3f}"
              f" | val loss {record.val_loss:.4f} acc {record.val_accuracy:.3f} | {record.seconds:.1f} s")
