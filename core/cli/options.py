"""The command line's training options, and the settings fields they stand for.

``convstudio train`` takes every option below; ``ensemble`` and ``remedies``
take :data:`LAB_OPTIONS`. Each option is declared once here, turned into
settings fields once (:func:`training_overrides`) and applied on top of the
design's saved settings by :func:`settings_from_args`; :func:`train_options`
goes the other way, for the app's torchrun line. No torch here: building the
parser must not load it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from convstudio.core.initialisation import INIT_SCHEMES
from convstudio.core.training.run_folder import WEIGHTS_CHOICES

if TYPE_CHECKING:
    from convstudio.core.design import Design
    from convstudio.core.training.settings import TrainingSettings

# option (argparse dest; the flag has dashes) -> (settings field, argparse keywords).
# The choices repeat Literal types of core.training.settings, whose import loads torch;
# tests/test_cli_train.py checks that they agree.
TRAINING_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "dataset": ("dataset", {"help": "shapes (built in), cifar10, mnist, fashion-mnist, or an image folder"}),
    "epochs": ("epochs", {"type": int}),
    "batch_size": ("batch_size", {"type": int}),
    "optimizer": ("optimizer", {"choices": ["sgd", "adagrad", "rmsprop", "adam", "lbfgs"]}),
    "lr": ("learning_rate", {"type": float, "help": "learning rate eta"}),
    "momentum": ("momentum", {"type": float, "help": "SGD momentum"}),
    "l2": ("l2_penalty", {"type": float, "help": "lambda of the L2 penalty lambda*||theta||^2"}),
    "schedule": ("schedule", {"choices": ["constant", "step", "cosine", "one_cycle"]}),
    "early_stopping": ("patience", {"type": int, "metavar": "PATIENCE",
                                    "help": "stop after PATIENCE epochs without improvement"}),
    "augment": ("augmentation", {"metavar": "SPEC",
                                 "help": "e.g. flip,rotate=15,crop=0.8,pad=4,brightness=0.2,contrast=0.2"}),
    "device": ("device", {"choices": ["auto", "cpu", "cuda", "mps"]}),
    "precision": ("precision", {"choices": ["auto", "fp32", "bf16", "fp16"]}),
    "channels_last": ("channels_last", {"choices": ["auto", "on", "off"],
                                        "help": "channels-last memory format (auto: the faster on this machine)"}),
    # store_const, not store_true: an option left out must leave the design's saved setting alone.
    "compile": ("compile", {"action": "store_const", "const": True,
                            "help": "train through torch.compile (runs uncompiled, saying why, if it fails)"}),
    "skip_unreadable": ("skip_unreadable", {"action": "store_const", "const": True,
                                            "help": "image folders: leave out images that cannot be decoded"}),
    "tensorboard": ("tensorboard", {"action": "store_const", "const": True,
                                    "help": "also write TensorBoard event files in RUN_DIR/tensorboard"}),
    "init": ("init", {"choices": list(INIT_SCHEMES)}),
    "seed": ("seed", {"type": int}),
    "limit": ("data_limit", {"type": int, "help": "use at most this many training images"}),
    "mc_samples": ("mc_samples", {"type": int, "help": "T for the Monte Carlo dropout comparison"}),
    "init_from": ("init_from", {"metavar": "RUN_DIR",
                                "help": "transfer learning: start from this run's weights (or a .pt file)"}),
    "init_weights": ("init_weights", {"choices": list(WEIGHTS_CHOICES),
                                      "help": "which weights of --init-from (default best)"}),
    "freeze": ("freeze", {"metavar": "LAYERS", "help": "comma-separated layers to freeze, e.g. conv1,conv2"}),
    "freeze_through": ("freeze_through", {"metavar": "LAYER",
                                          "help": "freeze every layer up to and including LAYER"}),
    "transfer_lr_scale": ("transfer_lr_scale", {"type": float,
                                                "help": "learning-rate factor for transferred layers"}),
    "unfreeze_at": ("unfreeze_at_epoch", {"type": int, "metavar": "EPOCH",
                                          "help": "epoch (1-based) from which frozen layers train"}),
}
# What the lab's training commands (ensemble, remedies) let the command line change.
LAB_OPTIONS = ("epochs", "dataset", "limit", "batch_size", "lr", "device", "seed")

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


def _freeze_fields(value: str) -> dict:
    names = [name.strip() for name in value.split(",") if name.strip()]
    return {"freeze": names} if names else {}


# Options that set something other than one field to their value.
_CONVERTERS: dict[str, Callable[[Any], dict]] = {
    "early_stopping": lambda patience: {"early_stopping": True, "patience": patience},
    "augment": lambda spec: {"augmentation": parse_augmentation(spec)},
    "freeze": _freeze_fields,
}


def add_training_options(parser: argparse.ArgumentParser, options: Iterable[str] = TRAINING_OPTIONS) -> None:
    """Declare ``options`` (names of :data:`TRAINING_OPTIONS`) on a subcommand's parser."""
    for option in options:
        parser.add_argument("--" + option.replace("_", "-"), **TRAINING_OPTIONS[option][1])


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """Declare ``--data-dir DIR`` on a command that reads a dataset.

    :func:`convstudio.core.cli.main.main` applies it around the command
    (:func:`core.paths.data_dir_override`): it overrides ``$CONVSTUDIO_DATA`` and
    the per-user default.
    """
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder that holds CIFAR10, MNIST and Fashion-MNIST and where downloads go "
                             "(overrides $CONVSTUDIO_DATA and the per-user default)")


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings fields the options given set (options left out set nothing).

    Raises ValueError for an ``--augment`` spec that cannot be read.
    """
    fields: dict[str, Any] = {}
    for option, (field, _) in TRAINING_OPTIONS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        fields.update(_CONVERTERS[option](value) if option in _CONVERTERS else {field: value})
    return fields


def settings_from_args(args: argparse.Namespace, design: Design) -> TrainingSettings:
    """The design's saved settings overridden by the options given (the built-in dataset when neither names one).

    Raises pydantic's ValidationError or ValueError for settings that are not valid;
    a value that comes from the design file's ``training`` section (not from an
    option) raises ValueError with one sentence naming the file and the field.
    """
    from pydantic import ValidationError

    from convstudio.core.training.design_settings import saved_settings

    overrides = training_overrides(args)
    try:
        return saved_settings(design, overrides)
    except ValidationError as error:
        from_design = [e for e in error.errors() if e["loc"] and e["loc"][0] not in overrides]
        if not from_design:
            raise  # the options' own values: the caller names the fields
        first = from_design[0]
        field = ".".join(map(str, first["loc"]))
        option = next((name for name, (target, _) in TRAINING_OPTIONS.items() if target == first["loc"][0]), None)
        fix = f", or override it with --{option.replace('_', '-')}" if option else ""
        where = getattr(args, "design", None) or f"design {design.name!r}"
        raise ValueError(f"{where}: the \"training\" section's {field} is not valid ({_problem(first)}, "
                         f"got {first.get('input')!r}): correct it in the design file{fix}") from None


def train_options(fields: Mapping[str, Any]) -> list[str]:
    """``convstudio train`` options that set ``fields`` (settings fields with one option each; None skipped).

    ``{"dataset": "cifar10", "device": "cuda"}`` -> ``["--dataset", "cifar10", "--device", "cuda"]``.
    """
    option_of = {field: option for option, (field, _) in TRAINING_OPTIONS.items() if option not in _CONVERTERS}
    arguments: list[str] = []
    for field, value in fields.items():
        if value is not None:
            arguments += ["--" + option_of[field].replace("_", "-"), str(value)]
    return arguments


def settings_error_message(error: Exception) -> str:
    """One line for settings that are not valid: each pydantic error as ``field: problem``."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {_problem(e)}" for e in error.errors())
    return str(error)


def _problem(error: dict) -> str:
    """pydantic's message, except where it would mislead ("Input should be a finite number" for nan)."""
    if error["type"] == "finite_number":
        return f"must be a finite number, not {error['input']}"
    return error["msg"]
