"""Models for tests that must tell trained weights from a fresh build's."""

from __future__ import annotations

import torch

from convstudio.core.builder import build_model


def perturbed_model(design, seed: int = 0):
    """A model whose every weight and running statistic differs from a fresh build's (left in training mode)."""
    model = build_model(design, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=generator))
                if name.endswith("running_var"):
                    tensor.abs_().add_(0.5)
    return model.train()
