"""The training settings editor: one editor per TrainingSettings field, saved with the design.

Editors, ranges and tooltips come from the pydantic fields (through
:mod:`convstudio.gui.forms.field_specs` and :mod:`convstudio.gui.forms.field_editors`, as in the inspector).
The settings live in ``Design.training``; every change is one undoable edit on
the design document (quick changes of one field merge), and the form redraws
from the document when it changes: it keeps no copy of its own.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from convstudio.core.data import AugmentationSettings
from convstudio.core.data.on_disk import dataset_on_disk
from convstudio.core.design import Design
from convstudio.core.training.devices import available_devices
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui import theme
from convstudio.gui.training.dataset_chooser import DatasetChooser
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.forms.field_editors import make_editor
from convstudio.gui.forms.field_specs import FieldSpec, field_spec

AUGMENTATION = "augmentation."  # prefix of the nested augmentation fields' keys

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Data", ("dataset", "data_limit", "val_fraction")),
    ("Optimizer", ("optimizer", "learning_rate", "momentum", "nesterov", "rho", "beta1", "beta2", "delta")),
    ("Schedule", ("epochs", "batch_size", "schedule", "step_epochs", "step_gamma")),
    ("Regularisation", ("l2_penalty", "early_stopping", "patience")),
    ("Augmentation", tuple(AUGMENTATION + name for name in AugmentationSettings.model_fields)),
    ("Initialisation", ("init", "init_gain")),
    # Transfer learning (lecture: train on A, fine-tune on B): a run folder to start from.
    ("Transfer learning", ("init_from", "init_weights", "freeze_through", "transfer_lr_scale", "unfreeze_at_epoch")),
    ("Device", ("device", "precision", "channels_last", "seed")),
    ("Reporting", ("state_every", "report_every", "mc_samples")),
)

LABELS = {
    "data_limit": "image limit", "val_fraction": "validation share", "learning_rate": "learning rate η",
    "momentum": "momentum α", "rho": "decay ρ", "beta1": "ρ¹ (beta1)", "beta2": "ρ² (beta2)", "delta": "δ",
    "batch_size": "batch size M", "step_epochs": "step every (epochs)", "step_gamma": "step factor",
    "l2_penalty": "L2 penalty λ", "init_gain": "gain C", "channels_last": "channels last",
    "state_every": "state every (steps)", "report_every": "read back every (steps)", "mc_samples": "MC samples T",
    "rotate_degrees": "rotate ± degrees", "crop_scale": "crop area ≥", "crop_padding": "shift ± pixels",
    "flip": "flip left-right", "init_from": "start from run", "init_weights": "weights of that run",
    "freeze_through": "freeze up to layer", "transfer_lr_scale": "LR factor (transferred)",
    "unfreeze_at_epoch": "unfreeze at epoch",
}

# Fields shown only when they matter for the other settings.
VISIBLE_WHEN = {
    "momentum": lambda s: s.optimizer == "sgd",
    "nesterov": lambda s: s.optimizer == "sgd",
    "rho": lambda s: s.optimizer == "rmsprop",
    "beta1": lambda s: s.optimizer == "adam",
    "beta2": lambda s: s.optimizer == "adam",
    "delta": lambda s: s.optimizer in ("adagrad", "rmsprop", "adam"),
    "step_epochs": lambda s: s.schedule == "step",
    "step_gamma": lambda s: s.schedule == "step",
    "patience": lambda s: s.early_stopping,
    "init_gain": lambda s: s.init in ("lecture_normal", "lecture_uniform"),
}


def default_dataset(design: Design) -> str:
    """CIFAR10 when it is on disk and the design takes 3x32x32 images; else the built-in shapes."""
    if tuple(design.input.shape) == (3, 32, 32) and dataset_on_disk("cifar10"):
        return "cifar10"
    return "shapes"


def settings_of(design: Design) -> tuple[TrainingSettings, str]:
    """The design's saved training settings (defaults for what it does not say), and a problem if any."""
    data = dict(design.training or {})
    data.setdefault("dataset", default_dataset(design))
    try:
        return TrainingSettings.model_validate(data), ""
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return (TrainingSettings(dataset=data["dataset"]),
                f"The design's saved training settings were not usable ({where}: {first['msg']}); showing defaults.")


def with_training(design: Design, settings: TrainingSettings) -> Design:
    """``design`` with ``settings`` saved in it (what differs from the defaults, and the dataset)."""
    data = settings.model_dump(mode="json", exclude_defaults=True)
    data["dataset"] = settings.dataset
    return design.model_copy(update={"training": data})


class DeviceEditor(QComboBox):
    """The device setting, labelled with what was found (CUDA GPU name, Apple MPS, CPU)."""

    edited = Signal(object)

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.setObjectName("deviceChoice")
        found = available_devices()
        descriptions = {name.split(":")[0]: text for name, text in reversed(found)}
        for choice in spec.choices:
            if choice == "auto":
                self.addItem(f"auto: {found[0][1]}", choice)
            else:
                self.addItem(descriptions.get(choice, f"{choice} (not found)"), choice)
                self.model().item(self.count() - 1).setEnabled(choice in descriptions)
        self.setToolTip(spec.description + "\nFound: " + "; ".join(text for _, text in found))
        self.currentIndexChanged.connect(lambda _index: self.edited.emit(self.current()))

    def current(self) -> str:
        return self.currentData()

    def set_value(self, value: str) -> None:
        with QSignalBlocker(self):
            self.setCurrentIndex(max(self.findData(value), 0))


class TrainingSettingsForm(QWidget):
    """Editors for every training setting of the document's design, grouped, undoable."""

    settings_changed = Signal(object)  # the TrainingSettings now shown

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingSettings")
        self.document = document
        self.editors: dict[str, QWidget] = {}
        self._rows: dict[str, tuple[QFormLayout, QWidget]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.problem = QLabel(self)
        self.problem.setObjectName("trainingSettingsProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {theme.hex_color(theme.error_color())};")
        self.problem.hide()
        layout.addWidget(self.problem)
        self.groups: dict[str, QGroupBox] = {}
        for title, keys in GROUPS:
            box = QGroupBox(title, self)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            for key in keys:
                editor = self._make_editor(key, box)
                name = key.removeprefix(AUGMENTATION)
                form.addRow(LABELS.get(name, name.replace("_", " ")), editor)
                self.editors[key] = editor
                self._rows[key] = (form, editor)
                editor.edited.connect(lambda value, key=key: self._on_edited(key, value))
            layout.addWidget(box)
            self.groups[title] = box
        self.dataset_chooser: DatasetChooser = self.editors["dataset"]
        layout.addStretch(1)
        document.changed.connect(self._refresh)
        self._refresh()

    def _make_editor(self, key: str, parent: QWidget) -> QWidget:
        if key.startswith(AUGMENTATION):
            spec = field_spec(AugmentationSettings, key.removeprefix(AUGMENTATION))
        else:
            spec = field_spec(TrainingSettings, key)
        if key == "dataset":
            return DatasetChooser(spec.description, parent)
        if key == "device":
            return DeviceEditor(spec, parent)
        editor = make_editor(spec, None, parent)
        editor.setObjectName(f"setting_{key.replace('.', '_')}")
        return editor

    # -- the model ----------------------------------------------------------------------
    def settings(self) -> TrainingSettings:
        """The settings of the document's design (what a run started now would use)."""
        return settings_of(self.document.design)[0]

    def set_setting(self, key: str, value: Any) -> str | None:
        """Change one setting as one undoable edit; returns why it was refused, or None."""
        data = self.settings().model_dump()
        if key.startswith(AUGMENTATION):
            data["augmentation"][key.removeprefix(AUGMENTATION)] = value
        else:
            data[key] = value
        try:
            changed = TrainingSettings.model_validate(data)
        except ValidationError as error:
            return "; ".join(item["msg"] for item in error.errors())
        return self.document.push_edit(f"Set training {key.removeprefix(AUGMENTATION).replace('_', ' ')}",
                                       with_training, changed, merge_key=("training", key))

    def _on_edited(self, key: str, value: Any) -> None:
        problem = self.set_setting(key, value)
        if problem:
            self.problem.setText(problem)
            self.problem.show()
            self._refresh()

    def set_editing_enabled(self, enabled: bool) -> None:
        """Allow or refuse edits (during a run); the rest of the form, the preview included, stays lit."""
        for editor in self.editors.values():
            editor.setEnabled(enabled)

    # -- the view -----------------------------------------------------------------------
    def _refresh(self) -> None:
        settings, problem = settings_of(self.document.design)
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        values = settings.model_dump()
        for key, editor in self.editors.items():
            if key.startswith(AUGMENTATION):
                value = values["augmentation"][key.removeprefix(AUGMENTATION)]
            else:
                value = values[key]
            if editor.current() != value:
                editor.set_value(value)
        for key, visible in VISIBLE_WHEN.items():
            form, editor = self._rows[key]
            form.setRowVisible(editor, visible(settings))
        self.settings_changed.emit(settings)
