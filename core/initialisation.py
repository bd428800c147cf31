"""Weight initialisation schemes, the lecture's C / sqrt(d) (eq. 27) among them.

The lecture draws W_ij = C / sqrt(d) * U_ij with d the fan-in (inputs per unit:
in_channels * kernel volume for a convolution) and U_ij independent standard
normal or uniform. For the uniform draw we use U(-sqrt(3), sqrt(3)), the uniform
law with variance 1, so that eq. (29) (Var[Z] = 1 for C = 1 and unit-variance
inputs) holds for both draws.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import torch
    from torch import nn

InitScheme = Literal["pytorch_default", "lecture_normal", "lecture_uniform", "he", "glorot"]
INIT_SCHEMES: tuple[str, ...] = get_args(InitScheme)

INIT_DESCRIPTIONS = {
    "pytorch_default": "PyTorch's default (Kaiming uniform with a = sqrt(5); bias U(-1/sqrt(d), 1/sqrt(d)))",
    "lecture_normal": "Lecture eq. (27): C / sqrt(d) times standard normal draws; bias 0",
    "lecture_uniform": "Lecture eq. (27): C / sqrt(d) times unit-variance uniform draws U(-sqrt 3, sqrt 3); bias 0",
    "he": "He (Kaiming) normal: sqrt(2 / d) times standard normal draws, for ReLU; bias 0",
    "glorot": "Glorot (Xavier) uniform: U(-a, a) with a = sqrt(6 / (d_in + d_out)); bias 0",
}


def fan_in(weight: torch.Tensor) -> int:
    """d in eq. (27): the number of inputs feeding one output unit."""
    return weight[0].numel()


def initialise(model: nn.Module, scheme: InitScheme = "pytorch_default", gain: float = 1.0,
               generator: torch.Generator | None = None) -> None:
    """Re-draw the weights of every convolution and linear layer of ``model``.

    ``gain`` is the lecture's C (used by the lecture schemes only). Batch
    normalisation keeps gamma = 1, beta = 0.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    # torch is imported here so that the scheme names (the CLI's choices) come without it
    import torch
    from torch import nn

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                _redraw(module, scheme, gain, generator)


def _redraw(module: nn.Module, scheme: str, gain: float, generator: torch.Generator | None) -> None:
    """New weights for one convolution or linear layer, its bias 0 (PyTorch's own draw for the default)."""
    weight = module.weight
    if scheme == "pytorch_default":
        module.reset_parameters()
        return
    d = fan_in(weight)
    if scheme == "lecture_normal":
        weight.normal_(0.0, 1.0, generator=generator).mul_(gain / math.sqrt(d))
    elif scheme == "lecture_uniform":
        bound = math.sqrt(3.0)
        weight.uniform_(-bound, bound, generator=generator).mul_(gain / math.sqrt(d))
    elif scheme == "he":
        weight.normal_(0.0, math.sqrt(2.0 / d), generator=generator)
    elif scheme == "glorot":
        fan_out = weight.shape[0] * weight[0, 0].numel()
        bound = math.sqrt(6.0 / (d + fan_out))
        weight.uniform_(-bound, bound, generator=generator)
    if module.bias is not None:
        module.bias.zero_()
