"""Overfitting remedies side by side: the variants differ as labelled, and train into curves."""

from __future__ import annotations

import pytest

from convstudio.core.builder import build_model
from convstudio.core.data import load_dataset
from convstudio.core.design import Design
from convstudio.core.lab.design_edits import with_batch_norm, with_dropout, without_batch_norm
from convstudio.core.lab.remedies import DEFAULT_AUGMENTATION, remedy_variants, train_variants
from convstudio.core.presets import load_preset
from convstudio.core.training.settings import TrainingSettings


def _kinds(design: Design) -> list[str]:
    return [layer.kind for layer in design.layers]


def _plain_design() -> Design:
    return Design.model_validate({
        "name": "plain",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": 16},
            {"kind": "linear", "out_features": 10, "activation": "none"},
            {"kind": "softmax"},
        ],
    })


def test_variants_of_a_preset_differ_as_labelled():
    design = load_preset("shapes_small")  # has batch norm and dropout of its own
    settings = TrainingSettings(l2_penalty=5e-4, early_stopping=True, augmentation={"flip": True, "contrast": 0.2})
    variants = {label: (d, s) for label, d, s in remedy_variants(design, settings)}
    assert list(variants) == ["baseline", "dropout", "batch norm", "augmentation", "L2 0.0001", "L2 0.001",
                              "L2 0.01", "early stopping"]
    base_design, base = variants["baseline"]
    assert not {"dropout", "batchnorm"} & set(_kinds(base_design))
    assert base.l2_penalty == 0 and not base.early_stopping and not base.augmentation.enabled
    # the design's own dropout (p = 0.2) and batch norms come back, one remedy at a time
    dropout_design = variants["dropout"][0]
    assert [l.p for l in dropout_design.layers if l.kind == "dropout"] == [0.2]
    assert "batchnorm" not in _kinds(dropout_design)
    bn_design = variants["batch norm"][0]
    assert _kinds(bn_design).count("batchnorm") == 3 and "dropout" not in _kinds(bn_design)
    assert variants["augmentation"][1].augmentation == settings.augmentation
    assert [variants[f"L2 {lam:g}"][1].l2_penalty for lam in (1e-4, 1e-3, 1e-2)] == [1e-4, 1e-3, 1e-2]
    assert variants["early stopping"][1].early_stopping and variants["early stopping"][1].patience == 5
    for label, (d, s) in variants.items():
        if label not in ("dropout", "batch norm"):
            assert d == base_design.model_copy(update={"name": d.name})  # only the settings change
        if label != "augmentation":
            assert not s.augmentation.enabled
        build_model(d, device="meta")  # every variant builds


def test_remedies_are_added_where_the_design_has_none():
    variants = {label: (d, s) for label, d, s in remedy_variants(_plain_design(), TrainingSettings(),
                                                                  l2_grid=(1e-3,), include_current=True)}
    assert list(variants)[0] == "as designed" and "L2 0.001" in variants
    assert _kinds(variants["dropout"][0]) == ["conv2d", "maxpool2d", "flatten", "dropout", "linear", "dropout",
                                              "linear", "softmax"]
    assert _kinds(variants["batch norm"][0]) == ["conv2d", "batchnorm", "maxpool2d", "flatten", "linear",
                                                 "batchnorm", "linear", "softmax"]
    assert variants["augmentation"][1].augmentation == DEFAULT_AUGMENTATION
    assert variants["baseline"][0].name == "plain (baseline)"


def test_design_edits_leave_the_original_alone():
    design = load_preset("cifar10")
    stripped = without_batch_norm(design)
    assert "batchnorm" not in _kinds(stripped) and _kinds(design).count("batchnorm") == 5
    assert with_dropout(design) is design and with_batch_norm(design) is design


def test_train_variants_returns_curves_of_the_right_length(tmp_path):
    data = load_dataset("shapes", limit=200, seed=0)
    settings = TrainingSettings(epochs=2, batch_size=64, learning_rate=3e-3, device="cpu", mc_samples=2)
    variants = remedy_variants(_plain_design(), settings, l2_grid=(1e-3,))
    labels_seen = set()
    curves = train_variants(variants, data, tmp_path, on_record=lambda label, record: labels_seen.add(label))
    assert [c.label for c in curves] == [v.label for v in variants] and labels_seen == {c.label for c in curves}
    for c in curves:
        assert c.epochs == (1, 2) and len(c.train_loss) == len(c.val_loss) == len(c.accuracy_gap) == 2
        assert c.accuracy_gap == pytest.approx(tuple(t - v for t, v in zip(c.train_accuracy, c.val_accuracy)))
        assert c.loss_gap == pytest.approx(tuple(v - t for t, v in zip(c.train_loss, c.val_loss)))
        assert c.end_reason == "finished" and c.test_accuracy is not None and c.best_epoch in (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01-baseline", "02-dropout", "03-batch-norm",
                                                          "04-augmentation", "05-l2-0.001", "06-early-stopping"]
