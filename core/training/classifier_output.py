"""Whether a design can train as a classifier: the one rule ``check`` and ``train`` share.

The engine trains with cross-entropy, so a design must end in one vector of
class scores per image, with at least two classes. A design that does not (no
layers, or feature maps at the end) is still a valid shape check; it just cannot
train yet. No torch here: ``convstudio check`` uses it.
"""

from __future__ import annotations

from convstudio.core.shape_records import DesignReport, format_shape


def classifier_problem(report: DesignReport, num_classes: int | None = None, dataset: str = "the dataset") -> str | None:
    """Why the design of ``report`` cannot train as a classifier (of ``num_classes`` classes), or None.

    Says nothing about impossible shapes (the report's own problems say those).
    """
    if not report.valid:
        return None
    output = report.output_shape
    if num_classes is not None and num_classes < 2:
        return (f"a classifier needs at least two classes, but {dataset} has {num_classes}: "
                "add a folder of images for each class")
    outputs = "N" if num_classes is None else str(num_classes)
    end_with = f"end it with a Flatten and a linear layer of {outputs} outputs, one per class"
    if not report.layers:
        return f"the design has no layers, so it cannot train as a classifier yet: {end_with}"
    if output is None or len(output) != 1:
        return (f"the design outputs {format_shape(output)} values per image, not one score per class, so it "
                f"cannot train as a classifier yet: {end_with}")
    if output[0] < 2:
        return (f"the design outputs {output[0]} value per image, but a classifier needs at least two classes: "
                f"{end_with}")
    if num_classes is not None and output[0] != num_classes:
        return (f"the design outputs {output[0]} values per image but {dataset} has {num_classes} classes: "
                f"end the design with a linear layer of {num_classes} outputs (after a Flatten)")
    return None
