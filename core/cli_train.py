"""``convstudio train``: the training engine on the command line.

Settings come from the design file's ``training`` section when it has one, then
from the options given. Progress goes to stderr, per-epoch metrics to stdout.
Exit status: 0 finished (or stopped early by early stopping), 1 the run failed
(non-finite loss, out of memory, an error), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from convstudio.core.design import DesignFileError, load_design
from convstudio.core.training.control import RunControl
from convstudio.core.training.records import EndReason, EpochRecord, RunEnded, RunStarted, StepRecord
from convstudio.core.training.run_folder import RunFolderError
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.setup import TrainingSetupError

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

# option name -> settings field, for options that map one to one
_DIRECT_OPTIONS = {
    "dataset": "dataset", "epochs": "epochs", "batch_size": "batch_size", "optimizer": "optimizer",
    "lr": "learning_rate", "momentum": "momentum", "l2": "l2_penalty", "schedule": "schedule",
    "device": "device", "seed": "seed", "precision": "precision", "limit": "data_limit", "init": "init",
    "mc_samples": "mc_samples", "init_from": "init_from", "init_weights": "init_weights",
    "freeze_through": "freeze_through", "transfer_lr_scale": "transfer_lr_scale", "unfreeze_at": "unfreeze_at_epoch",
}


def add_train_parser(commands) -> None:
    """Register ``train`` on the CLI's subcommands."""
    train = commands.add_parser("train", help="train a design headless, writing a run folder")
    train.add_argument("design", nargs="?", metavar="DESIGN.json", help="the design (not needed with --resume)")
    train.add_argument("--dataset", help="shapes (built in), cifar10, mnist, fashion-mnist, or an image folder")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--optimizer", choices=["sgd", "adagrad", "rmsprop", "adam", "lbfgs"])
    train.add_argument("--lr", type=float, help="learning rate eta")
    train.add_argument("--momentum", type=float, help="SGD momentum")
    train.add_argument("--l2", type=float, help="lambda of the L2 penalty lambda*||theta||^2")
    train.add_argument("--schedule", choices=["constant", "step", "cosine", "one_cycle"])
    train.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="stop after PATIENCE epochs without improvement")
    train.add_argument("--augment", default=None, metavar="SPEC",
                       help="e.g. flip,rotate=15,crop=0.8,pad=4,brightness=0.2,contrast=0.2")
    train.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    train.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    train.add_argument("--init", choices=["pytorch_default", "lecture_normal", "lecture_uniform", "he", "glorot"])
    train.add_argument("--seed", type=int)
    train.add_argument("--limit", type=int, help="use at most this many training images")
    train.add_argument("--mc-samples", type=int, help="T for the Monte Carlo dropout comparison")
    train.add_argument("--init-from", metavar="RUN_DIR", help="transfer learning: start from this run's weights (or a .pt file)")
    train.add_argument("--init-weights", choices=["best", "last"], help="which weights of --init-from (default best)")
    train.add_argument("--freeze", metavar="LAYERS", help="comma-separated layers to freeze, e.g. conv1,conv2")
    train.add_argument("--freeze-through", metavar="LAYER", help="freeze every layer up to and including LAYER")
    train.add_argument("--transfer-lr-scale", type=float, help="learning-rate factor for transferred layers")
    train.add_argument("--unfreeze-at", type=int, metavar="EPOCH", help="epoch (1-based) from which frozen layers train")
    train.add_argument("--download", action="store_true",
                       help="download CIFAR10, MNIST or Fashion-MNIST into the data folder if missing")
    train.add_argument("--out", metavar="RUN_DIR", help="run folder to write (default runs/<design>-<time>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    train.set_defaults(handler=run_train)


_AUGMENT_KEYS = {"flip": "flip", "rotate": "rotate_degrees", "crop": "crop_scale", "pad": "crop_padding",
                 "brightness": "brightness", "contrast": "contrast"}


def parse_augmentation(spec: str) -> dict:
    """``flip,rotate=15,crop=0.8`` -> AugmentationSettings fields; ValueError naming the bad part."""
    fields: dict = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        key, _, value = part.partition("=")
        if key not in _AUGMENT_KEYS:
            raise ValueError(f"--augment: unknown augmentation {key!r}; use {', '.join(_AUGMENT_KEYS)}")
        if key == "flip":
            fields["flip"] = value.lower() not in ("0", "false", "no", "off")
            continue
        try:
            fields[_AUGMENT_KEYS[key]] = int(value) if key == "pad" else float(value)
        except ValueError:
            raise ValueError(f"--augment: {key} needs a number, e.g. {key}=0.2") from None
    return fields


def settings_from_args(args: argparse.Namespace, base: dict | None) -> TrainingSettings:
    """The design's saved settings overridden by the options given."""
    data = dict(base or {})
    for option, field in _DIRECT_OPTIONS.items():
        value = getattr(args, option, None)
        if value is not None:
            data[field] = value
    if args.early_stopping is not None:
        data["early_stopping"], data["patience"] = True, args.early_stopping
    if args.freeze:
        data["freeze"] = [name.strip() for name in args.freeze.split(",") if name.strip()]
    if args.augment is not None:
        data["augmentation"] = {**data.get("augmentation", {}), **parse_augmentation(args.augment)}
    return TrainingSettings.model_validate(data)


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


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``convstudio train``."""
    from convstudio.core.training.engine import TrainingRun

    if int(os.environ.get("RANK", "0")) != 0:
        # Under torchrun only rank 0 talks; the others train silently.
        sys.stdout = sys.stderr = open(os.devnull, "w")
    try:
        if args.resume:
            run = TrainingRun(None, None, args.resume, resume=True, download=args.download)
        else:
            if not args.design:
                print("convstudio train: give a design file, or --resume RUN_DIR", file=sys.stderr)
                return EXIT_BAD_INPUT
            design = load_design(args.design)
            settings = settings_from_args(args, design.training)
            out = args.out or str(Path("runs") / f"{Path(args.design).stem}-{_timestamp()}")
            run = TrainingRun(design, settings, out, download=args.download)
        control = run.control
        progress = _Progress()
        records = run.records()
        ended = None
        try:
            for record in records:
                if isinstance(record, RunStarted):
                    print(f"training on {record.device_reason}; {record.dataset}: {record.train_size} train, "
                          f"{record.val_size} validation, {record.test_size} test images; run folder "
                          f"{record.run_dir}", file=sys.stderr)
                    if record.transfer_summary:
                        print(record.transfer_summary, file=sys.stderr)
                    if record.frozen_layers:
                        print(f"frozen: {', '.join(record.frozen_layers)}", file=sys.stderr)
                elif isinstance(record, StepRecord):
                    progress.step(record, run.settings.epochs)
                elif isinstance(record, EpochRecord):
                    progress.clear()
                    print(f"epoch {record.epoch + 1}: train loss {record.train_loss:.4f} acc {record.train_accuracy:.3f}"
                          f" | val loss {record.val_loss:.4f} acc {record.val_accuracy:.3f} | {record.seconds:.1f} s")
                elif isinstance(record, RunEnded):
                    ended = record
        except KeyboardInterrupt:
            control.stop()
            for record in records:  # let the loop end cleanly and write its status
                if isinstance(record, RunEnded):
                    ended = record
            progress.clear()
            print(f"interrupted; resume with: convstudio train --resume {run.folder.path}", file=sys.stderr)
            return EXIT_INTERRUPTED
    except TrainingSetupError as error:
        hint = " Or add --download to fetch it now." if error.missing_dataset and not args.download else ""
        print(f"convstudio train: {error}{hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DesignFileError, RunFolderError) as error:
        print(f"convstudio train: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValidationError, ValueError) as error:
        print(f"convstudio train: invalid settings: {_settings_message(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    progress.clear()
    summary = f"{ended.reason.value}: {ended.message}"
    if ended.test_accuracy is not None:
        summary += f"; test accuracy {ended.test_accuracy:.3f}, test loss {ended.test_loss:.4f}"
    if ended.dropout is not None:
        d = ended.dropout
        summary += (f"; dropout: weight scaling acc {d.weight_scaling_accuracy:.3f} NLL {d.weight_scaling_nll:.4f},"
                    f" Monte Carlo (T={d.samples}) acc {d.monte_carlo_accuracy:.3f} NLL {d.monte_carlo_nll:.4f}")
    print(summary)
    ok = ended.reason in (EndReason.FINISHED, EndReason.EARLY_STOPPING)
    return EXIT_OK if ok else EXIT_RUN_FAILED


def _settings_message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
    return str(error)


def _timestamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")
