"""The training settings editor: one editor per TrainingSettings field, saved with the design.

Editors, ranges, tooltips, labels, sections and when each editor is shown all
come from the pydantic fields (their ``Field`` and ``EditorHint``, read by
:mod:`convstudio.gui.forms`); this module adds only the editors special to
training: the dataset chooser, the device list and the design's layers to freeze.
The settings live in ``Design.training``; every change is one undoable edit on
the design document (quick changes of one field merge), and the form redraws
from the document when it changes: it keeps no copy of its own.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from convstudio.core.naming import qualified_layer_names
from convstudio.core.training.design_settings import settings_of, with_training
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui import theme
from convstudio.gui.background import create_worker
from convstudio.gui.training.dataset_chooser import DatasetChooser
from convstudio.gui.designer.document import DesignDocument
from convstudio.gui.forms.field_specs import FieldSpec, with_value
from convstudio.gui.forms.model_form import ModelForm

FIND_DEVICES_DELAY_MS = 300


def find_devices(job) -> tuple[list[tuple[str, str]], object]:
    """The devices PyTorch can train on, and why a GPU the system has is not among them (or None).

    A background job: it loads torch, off the GUI thread.
    """
    from convstudio.core.training.devices import available_devices, gpu_not_offered

    return available_devices(), gpu_not_offered()


class DeviceEditor(QComboBox):
    """The device setting, labelled with what was found (CUDA GPU name, Apple MPS, CPU).

    Finding devices needs torch, which takes a second or more to load: the
    editor starts with plain names and, once the window has shown (or when its
    list opens), looks for devices on a background thread, then labels each
    choice with what was found and disables those that are absent. When the
    system has an NVIDIA GPU that PyTorch cannot use, the CUDA choice says why
    (its tooltip adds the fix).
    """

    edited = Signal(object)
    _PLAIN = {"auto": "auto (looking for devices…)", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple MPS"}

    def __init__(self, spec: FieldSpec, parent=None):
        super().__init__(parent)
        self.setObjectName("deviceChoice")
        self.description = spec.description
        self.found: list[tuple[str, str]] | None = None
        self.gpu_problem = None  # why a GPU the system has is not offered, once devices were looked for
        for choice in spec.choices:
            self.addItem(self._PLAIN.get(choice, choice), choice)
        self.setToolTip(spec.description)
        self.currentIndexChanged.connect(lambda _index: self.edited.emit(self.current()))
        self.finder = None
        # Not at once: the window shows first, then torch loads on the finder's thread.
        QTimer.singleShot(FIND_DEVICES_DELAY_MS, self.find_devices)

    def showPopup(self) -> None:  # noqa: N802 - Qt's name
        self.find_devices()  # opened before the timer fired: look now
        super().showPopup()

    def find_devices(self) -> None:
        """Look for devices on a background thread (once); :meth:`show_devices` labels the choices."""
        if self.finder is None:
            self.finder = create_worker(find_devices, parent=self, what="device search",
                                        connect={"returned": self._on_devices_found})

    @Slot(object)
    def _on_devices_found(self, result) -> None:
        found, gpu_problem = result
        self.show_devices(found, gpu_problem)

    def show_devices(self, found: list[tuple[str, str]], gpu_problem=None) -> None:
        """Label each choice with the device found for it; a choice with none is disabled.

        ``gpu_problem`` (a :class:`~convstudio.core.diagnostics.gpu.GpuProblem`) says why
        a GPU the system has is not offered; the CUDA choice then shows it.
        """
        self.found = found
        self.gpu_problem = gpu_problem
        descriptions = {name.split(":")[0]: text for name, text in reversed(found)}
        for index in range(self.count()):
            choice = self.itemData(index)
            if choice == "auto":
                self.setItemText(index, f"auto: {found[0][1]}")
            else:
                absent = f"{choice} (not found)"
                if choice == "cuda":
                    why = f"{gpu_problem.reason}.\nFix: {gpu_problem.fix}" if gpu_problem else None
                    absent = f"CUDA GPU: not usable, {gpu_problem.short}" if gpu_problem else absent
                    self.setItemData(index, why, Qt.ItemDataRole.ToolTipRole)
                self.setItemText(index, descriptions.get(choice, absent))
                self.model().item(index).setEnabled(choice in descriptions)
        why = f"\nA GPU is not offered: {gpu_problem.reason}. Fix: {gpu_problem.fix}" if gpu_problem else ""
        self.setToolTip(self.description + "\nFound: " + "; ".join(text for _, text in found) + why)

    def current(self) -> str:
        return self.currentData()

    def set_value(self, value: str) -> None:
        with QSignalBlocker(self):
            self.setCurrentIndex(max(self.findData(value), 0))


# The editors special to training, by the widget their field's EditorHint names
# (the layers to freeze are the forms' own name editors, given the design's layers).
EDITOR_FACTORIES = {
    "dataset": lambda spec, parent: DatasetChooser(spec.description, parent),
    "device": DeviceEditor,
}


class TrainingSettingsForm(QWidget):
    """Editors for every training setting of the document's design, grouped, undoable.

    The editors are a :class:`~convstudio.gui.forms.model_form.ModelForm` of
    :class:`TrainingSettings`: a field added there gets its editor here.
    """

    settings_changed = Signal(object)  # the TrainingSettings now shown

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingSettings")
        self.document = document
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.problem = QLabel(self)
        self.problem.setObjectName("trainingSettingsProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {theme.hex_color(theme.error_color())};")
        self.problem.hide()
        layout.addWidget(self.problem)
        self.form = ModelForm(TrainingSettings, EDITOR_FACTORIES, self)
        layout.addWidget(self.form)
        layout.addStretch(1)
        self.editors = self.form.editors  # key (dotted for augmentation) -> editor
        self.groups = self.form.groups  # section title -> its box (a QFormLayout inside)
        self.rows = self.form.rows  # key -> (QFormLayout, editor)
        self.dataset_chooser: DatasetChooser = self.editors["dataset"]
        # What the editors show: the design's settings (and input: it decides the default dataset),
        # and the layers whose names are offered.
        self._shown_settings: tuple | None = None
        self._shown_layers: tuple | None = None
        self._settings: TrainingSettings | None = None
        self.form.edited.connect(self._on_edited)
        document.changed.connect(self._refresh)
        self._refresh()

    # -- the model ----------------------------------------------------------------------
    def settings(self) -> TrainingSettings:
        """The settings of the document's design (what a run started now would use)."""
        return settings_of(self.document.design)[0]

    def set_setting(self, key: str, value: Any) -> str | None:
        """Change one setting (``augmentation.flip`` for a nested one) as one undoable edit.

        Returns why it was refused, or None.
        """
        editor = self.form.fields[key].spec.editor
        if editor in ("layers", "layer"):
            names = qualified_layer_names(self.document.design.layers)
            unknown = [name for name in ([value] if editor == "layer" else value) if name and name not in names]
            if unknown:
                return f"This design has no layer named {unknown[0]!r}."
        try:
            changed = TrainingSettings.model_validate(with_value(self.settings().model_dump(), key, value))
        except ValidationError as error:
            return "; ".join(item["msg"] for item in error.errors())
        name = key.rpartition(".")[2].replace("_", " ")
        return self.document.push_edit(f"Set training {name}", with_training, changed, merge_key=("training", key))

    def _on_edited(self, key: str, value: Any) -> None:
        problem = self.set_setting(key, value)
        if problem:
            self._refresh(force=True)  # the editor goes back to the saved value
            self.problem.setText(problem)
            self.problem.show()

    def is_shown(self, key: str) -> bool:
        """Whether the editor of ``key`` is shown (its condition holds for the settings and the design)."""
        return self.form.is_shown(key)

    def set_editing_enabled(self, enabled: bool) -> None:
        """Allow or refuse edits (during a run); the rest of the form, the preview included, stays lit."""
        for editor in self.editors.values():
            editor.setEnabled(enabled)

    # -- the view -----------------------------------------------------------------------
    def _refresh(self, force: bool = False) -> None:
        """Show the document's settings; only what an edit changed is redone.

        An edit of a layer's settings changes nothing here; an inserted or removed
        layer changes the names offered (and whether batch-norm settings show), not
        the values; only an edit of the training settings or the input refills them.
        """
        design = self.document.design
        settings_shown = (design.training, design.input)
        # Layers inside blocks by their qualified names (res1.body.conv1): a whole block or one layer
        # inside it can be frozen.
        layers = tuple(_layer_choices(self.document.report.layers))
        new_settings = force or settings_shown != self._shown_settings or self._settings is None
        new_layers = force or layers != self._shown_layers
        if not (new_settings or new_layers):
            return
        if new_layers:
            self._shown_layers = layers
            for key, field in self.form.fields.items():
                if field.spec.editor == "layers":  # what can be frozen: layers with parameters
                    self.editors[key].set_choices([name for name, _, weighted in layers if weighted])
                elif field.spec.editor == "layer":
                    self.editors[key].set_choices([name for name, _, _ in layers])
        if new_settings:
            self._shown_settings = settings_shown
            self._settings, problem = settings_of(design)
            self.problem.setText(problem)
            self.problem.setVisible(bool(problem))
            self.form.show_values(self._settings.model_dump())
        self.form.show_rows_for(self._settings, design)
        if new_settings:
            self.settings_changed.emit(self._settings)


def _layer_choices(records, prefix: str = ""):
    """(qualified name, kind, has parameters) of every layer, blocks' contents after their block.

    The names the builder's modules have (``res1.body.conv1``); cheaper than the
    report's ``walk()``, which also builds location texts, on every edit.
    """
    for record in records:
        name = prefix + record.name
        yield name, record.kind, record.params != 0
        for stack in record.stacks:
            yield from _layer_choices(stack.layers, f"{name}.{stack.part}.")
