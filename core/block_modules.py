"""The modules a design's blocks become: a residual sum and a concatenation along channels.

Each stack of a block is an ``nn.Sequential`` of the builder's named modules,
so parameters read ``res1.body.conv1.weight``, ``res1.shortcut.conv1.weight``
and ``concat1.branches.0.conv1.weight``. Both modules are plain enough for
TorchScript, ``torch.export`` and ONNX, and the PyTorch source export copies
their source (``inspect.getsource``) into its file (``core.export.pytorch_code``):
keep them self-contained (torch and nn only) so that file stays standalone.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """activation(body(x) + shortcut(x)) (He et al. 2016); an empty shortcut is the identity."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Sequential, activation: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.body(x) + self.shortcut(x))


class ConcatBlock(nn.Module):
    """Parallel branches joined along channels (Inception style); an empty branch passes its input on."""

    def __init__(self, branches: list[nn.Sequential]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        for branch in self.branches:
            outputs.append(branch(x))
        return torch.cat(outputs, dim=1)
