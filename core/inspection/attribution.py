"""Where the network looks, by autograd: saliency, Grad-CAM and a unit's effective receptive field.

- Saliency (Simonyan et al. 2014): the magnitude of the gradient of the class
  score (the logit, before any softmax) with respect to each input pixel, the
  largest over the colour channels.
- Grad-CAM (Selvaraju et al. 2017): for a chosen layer's feature maps A^c, the
  weights alpha_c are the spatial means of d score / d A^c; the map is
  ReLU(sum_c alpha_c A^c), upsampled to the input (bilinear) and scaled to [0, 1].
- Effective receptive field (Luo et al. 2016): the magnitude of the gradient of
  one unit of a feature map with respect to the input; it lies inside the
  theoretical field (:mod:`core.receptive_field`) and is usually concentrated
  near its centre.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convstudio.core.builder import DesignNet


def _module(model: DesignNet, name: str) -> torch.nn.Module:
    modules = dict(model.named_modules())
    if name not in modules:
        raise KeyError(name)
    return modules[name]


def saliency(model: DesignNet, batch: torch.Tensor, class_index: int) -> torch.Tensor:
    """|d score_k / d x| per pixel, the largest over channels: (H, W), float32."""
    image = batch.detach().clone().requires_grad_(True)
    score = model.logits(image)[0, class_index]
    (gradient,) = torch.autograd.grad(score, image)
    return gradient[0].abs().amax(dim=0)


def grad_cam(model: DesignNet, batch: torch.Tensor, module_name: str, class_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM of class ``class_index`` at module ``module_name``'s output.

    Returns (the map at the input size in [0, 1], the map at the layer's own
    size before scaling). A map that is zero everywhere (no positive evidence)
    stays zero. Raises KeyError for an unknown module and ValueError for one
    whose output is not a feature map.
    """
    module = _module(model, module_name)
    kept: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        kept["maps"] = output
    handle = module.register_forward_hook(keep)
    try:
        score = model.logits(batch.detach())[0, class_index]
    finally:
        handle.remove()
    maps = kept["maps"]
    if maps.dim() != 4:
        raise ValueError(f"{module_name} gives {tuple(maps.shape[1:])}, not feature maps; "
                         "choose a convolution, pooling or activation layer before the flatten")
    (gradient,) = torch.autograd.grad(score, maps)
    weights = gradient[0].mean(dim=(1, 2))  # alpha_c
    cam = torch.relu((weights[:, None, None] * maps[0]).sum(dim=0)).detach()
    upsampled = F.interpolate(cam[None, None], size=batch.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    peak = float(upsampled.max())
    return (upsampled / peak if peak > 0 else upsampled), cam


def effective_receptive_field(model: DesignNet, batch: torch.Tensor, module_name: str, channel: int | None,
                              unit: tuple[int, int]) -> torch.Tensor:
    """|d output / d x| for one unit (row, column) of module ``module_name``, the largest over input channels.

    ``channel`` None takes the sum over the layer's channels at that position
    (every filter's view of the same place). Returns (H, W), float32.
    """
    module = _module(model, module_name)
    kept: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        kept["maps"] = output
    image = batch.detach().clone().requires_grad_(True)
    handle = module.register_forward_hook(keep)
    try:
        model.logits(image)
    finally:
        handle.remove()
    maps = kept["maps"]
    if maps.dim() != 4:
        raise ValueError(f"{module_name} has no feature maps")
    row, column = unit
    value = maps[0, :, row, column].sum() if channel is None else maps[0, channel, row, column]
    (gradient,) = torch.autograd.grad(value, image)
    return gradient[0].abs().amax(dim=0)
