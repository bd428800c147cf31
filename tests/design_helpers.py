"""Small designs for tests that train (no torch imported here)."""

from __future__ import annotations

from convstudio.core.design import Design


def tiny_design(name: str = "tiny", channels: int = 3, classes: int = 10, training: dict | None = None) -> Design:
    """A 32x32 conv -> pool -> linear net: a few hundred parameters, an epoch of shapes in a second."""
    return Design.model_validate({
        "name": name,
        "input": {"channels": channels, "height": 32, "width": 32},
        "layers": [
            {"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
            {"kind": "maxpool2d", "kernel_size": 4},
            {"kind": "flatten"},
            {"kind": "linear", "out_features": classes, "activation": "none"},
        ],
        "training": training,
    })
