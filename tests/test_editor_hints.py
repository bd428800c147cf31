"""Settings fields carry their editor's label, section and condition (core.editor_hints), read headless.

The GUI's forms are generated from these (convstudio.gui.forms.field_specs is Qt-free,
so no Qt is needed here); the Qt side is tested in tests/gui/test_settings_editors.py.
"""

from __future__ import annotations

from convstudio.core.data.augment import AugmentationSettings
from convstudio.core.editor_hints import EditorHint, editor_hint, when
from convstudio.core.presets import load_preset
from convstudio.core.training.settings import TrainingSettings
from convstudio.gui.forms.field_specs import field_spec, form_fields, value_at, with_value


def test_every_settings_field_declares_its_editor_hint():
    for model in (TrainingSettings, AugmentationSettings):
        for name, info in model.model_fields.items():
            hint = editor_hint(info)
            assert isinstance(hint, EditorHint) and hint.label, f"{model.__name__}.{name}"
            # Training settings name their section; augmentation's come from the field holding them.
            assert (hint.group is not None) == (model is TrainingSettings), f"{model.__name__}.{name}"


def test_the_form_fields_are_every_leaf_field_in_sections_ordered_by_first_field():
    fields = form_fields(TrainingSettings)
    keys = [field.key for field in fields]
    assert set(keys) == ({name for name in TrainingSettings.model_fields if name != "augmentation"}
                         | {f"augmentation.{name}" for name in AugmentationSettings.model_fields})
    assert len(keys) == len(set(keys))
    groups = list(dict.fromkeys(field.group for field in fields))
    assert groups == ["Data", "Schedule", "Optimizer", "Regularisation", "Augmentation", "Initialisation",
                      "Device", "Reporting", "Transfer learning"]
    by_key = {field.key: field for field in fields}
    assert by_key["augmentation.rotate_degrees"].group == "Augmentation"
    assert by_key["augmentation.rotate_degrees"].label == "rotate ± degrees"
    assert by_key["freeze"].spec.editor == "layers" and by_key["freeze_through"].spec.editor == "layer"
    assert by_key["device"].spec.editor == "device" and by_key["device"].spec.choices == ("auto", "cpu", "cuda", "mps")
    assert by_key["epochs"].spec == field_spec(TrainingSettings, "epochs")


def test_conditions_say_when_an_editor_matters():
    fields = {field.key: field for field in form_fields(TrainingSettings)}
    adam, sgd = TrainingSettings(), TrainingSettings(optimizer="sgd")
    assert fields["beta1"].shown(adam) and not fields["beta1"].shown(sgd)
    assert fields["momentum"].shown(sgd) and not fields["momentum"].shown(adam)
    assert not fields["patience"].shown(adam) and fields["patience"].shown(TrainingSettings(early_stopping=True))
    assert not fields["init_weights"].shown(adam) and fields["init_weights"].shown(TrainingSettings(init_from="run"))
    assert not fields["freeze"].shown(adam)
    assert fields["freeze"].shown(TrainingSettings(freeze=["conv1"]))  # set without a source run: never hidden
    assert fields["unfreeze_at_epoch"].shown(TrainingSettings(freeze_through="conv2"))
    assert fields["augmentation.flip"].shown(adam)
    design = load_preset("shapes_small")
    plain = design.model_copy(update={"layers": [layer for layer in design.layers if layer.kind != "batchnorm"]})
    assert fields["sync_batchnorm"].shown(adam, design) and not fields["sync_batchnorm"].shown(adam, plain)
    assert when("optimizer", "adam", "sgd")(sgd)


def test_dotted_keys_read_and_write_nested_values():
    data = TrainingSettings().model_dump()
    changed = with_value(data, "augmentation.flip", True)
    assert value_at(changed, "augmentation.flip") is True and value_at(data, "augmentation.flip") is False
    assert TrainingSettings.model_validate(with_value(data, "epochs", 3)).epochs == 3
