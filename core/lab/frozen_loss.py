"""The loss g(theta) of a design on a frozen batch: what eq. (1)'s finite differences perturb.

g must be a function of the parameters alone. The batch (standard-normal
images, random labels) is drawn once; each dropout layer draws its mask R
(eq. 18) on the first call and reuses it; batch normalisation stays in training
mode, where it normalises with the batch's own statistics (eq. 35-37), a
deterministic function of the batch. Everything runs in float64 on the CPU.

The network is a sequence of stages; perturbing a parameter of stage k leaves
everything before it unchanged, so each perturbed evaluation restarts from the
cached input of stage k. Each evaluation also says whether it crossed a kink:
a ReLU input that changed sign, or a max-pooling window that picked another
entry. Between two such points g is not differentiable and eq. (1) does not apply.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from convstudio.core.builder import build_model
from convstudio.core.design import Design
from convstudio.core.lab.common import data_generator, module_owners, owner_of


class _FixedMaskDropout(nn.Module):
    """Dropout whose mask R (eq. 18) is drawn on the first call and reused, so g depends on theta only."""

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        self.p = p
        self.generator = generator
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask is None or self.mask.shape != x.shape:
            keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype) >= self.p
            self.mask = keep.to(x.dtype) / (1.0 - self.p)  # inverted dropout, as PyTorch trains
        return x * self.mask


def _fix_dropout_masks(model: nn.Module, generator: torch.Generator) -> None:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.dropout._DropoutNd):
                setattr(parent, name, _FixedMaskDropout(child.p, generator))


def _pool_choice(pool: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Which entry of each window a max-pooling layer picks."""
    function = F.max_pool2d if isinstance(pool, nn.MaxPool2d) else F.max_pool3d
    return function(x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode,
                    return_indices=True)[1]


class FrozenLoss:
    """g(theta) on a frozen batch: the model in float64, fixed masks, cached stage inputs.

    Perturbing a parameter of stage k changes nothing before it, so every
    perturbed evaluation restarts from the cached input of stage k.
    """

    def __init__(self, design: Design, model: nn.Module | None, batch_size: int, seed: int):
        generator = data_generator(seed)
        model = copy.deepcopy(model) if model is not None else build_model(design, seed=seed)
        if not isinstance(model, nn.Sequential):
            raise TypeError("the gradient check needs the built nn.Sequential (a DesignNet)")
        model = model.to("cpu", torch.float64).train()
        _fix_dropout_masks(model, generator)
        self.owners = module_owners(design, model)
        stages = list(model.named_children())
        if stages and isinstance(stages[-1][1], nn.Softmax):
            stages = stages[:-1]  # the loss takes the logits U (eq. 5)
        self.stages = stages
        self.stage_of = {name: k for k, (name, _) in enumerate(stages)}
        self.model = model
        self._watch_inside_blocks(stages)
        images = torch.randn((batch_size, *design.input.shape), generator=generator, dtype=torch.float64)
        with torch.no_grad():
            self.inputs = [images]
            self._inner_mode = "record"
            for _, module in stages:
                self.inputs.append(module(self.inputs[-1]))
            self._inner_mode = None
        output = self.inputs[-1]
        if output.dim() == 2:
            self.labels = torch.randint(0, output.shape[1], (batch_size,), generator=generator)
            self.weights = None
        else:  # a design without class scores: check a fixed random linear functional of its output
            self.labels = None
            self.weights = torch.randn(output.shape, generator=generator, dtype=torch.float64)
        self.parameters = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        if not self.parameters:
            raise ValueError(f"{design.name} has no parameters to check: add a convolution or linear layer")
        self._choices: dict[int, torch.Tensor] = {}

    def _loss(self, output: torch.Tensor) -> torch.Tensor:
        if self.labels is not None:
            return F.cross_entropy(output, self.labels)
        return (output * self.weights).sum() / output.shape[0]

    def loss_from(self, stage: int, check_kinks: bool = True) -> tuple[float, bool]:
        """g evaluated from the cached input of ``stage`` on, and whether a kink was crossed.

        A kink is crossed when a ReLU's input changed sign or a max-pooling window
        picked another maximum than at the unperturbed parameters: g is not
        differentiable between the two points, and eq. (1) does not apply.
        """
        kink = False
        self._inner_crossed = False
        self._inner_mode = "compare" if check_kinks else None
        try:
            with torch.no_grad():
                x = self.inputs[stage]
                for k, (_, module) in enumerate(self.stages[stage:], start=stage):
                    if check_kinks and not kink and k > stage:  # the perturbed stage's own input is unchanged
                        kink = self._crossed(k, module, x)
                    x = module(x)
                return float(self._loss(x)), kink or self._inner_crossed
        finally:
            self._inner_mode = None

    def _watch_inside_blocks(self, stages: list[tuple[str, nn.Module]]) -> None:
        """Kinks inside a block (a ReLU or max pooling in its body) are seen through forward hooks.

        The unperturbed pass records which inputs are positive (or which entries
        pooling picks); perturbed passes compare against it.
        """
        self._inner_mode: str | None = None
        self._inner_crossed = False
        self._inner_baseline: dict[int, torch.Tensor] = {}
        kinky = (nn.ReLU, nn.LeakyReLU, nn.MaxPool2d, nn.MaxPool3d)
        for _, stage in stages:
            for module in stage.modules():
                if module is not stage and isinstance(module, kinky):
                    module.register_forward_hook(self._inner_hook)

    def _inner_hook(self, module: nn.Module, args, output) -> None:
        if self._inner_mode is None or (self._inner_mode == "compare" and self._inner_crossed):
            return
        x = args[0]
        choice = x > 0 if isinstance(module, (nn.ReLU, nn.LeakyReLU)) else _pool_choice(module, x)
        if self._inner_mode == "record":
            self._inner_baseline[id(module)] = choice
        else:
            self._inner_crossed = bool(torch.ne(choice, self._inner_baseline[id(module)]).any())

    def _crossed(self, k: int, module: nn.Module, x: torch.Tensor) -> bool:
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            return bool(torch.ne(x > 0, self._baseline(k, module)).any())
        if isinstance(module, (nn.MaxPool2d, nn.MaxPool3d)):
            return bool(torch.ne(_pool_choice(module, x), self._baseline(k, module)).any())
        return False

    def _baseline(self, k: int, module: nn.Module) -> torch.Tensor:
        """At the unperturbed parameters: which ReLU inputs are positive, or which entries pooling picks."""
        if k not in self._choices:
            x = self.inputs[k]
            self._choices[k] = x > 0 if isinstance(module, (nn.ReLU, nn.LeakyReLU)) else _pool_choice(module, x)
        return self._choices[k]

    def autograd(self) -> dict[str, torch.Tensor]:
        """dg/dtheta by backpropagation, for every parameter."""
        self.model.zero_grad(set_to_none=True)
        x = self.inputs[0]
        for _, module in self.stages:
            x = module(x)
        self._loss(x).backward()
        return {name: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                for name, p in self.parameters}

    def stage_for(self, parameter: str) -> int:
        return self.stage_of[parameter.split(".")[0]]

    def layer_for(self, parameter: str) -> tuple[str, str]:
        """(design layer name, kind) of a parameter; inside a block, the inner layer (``res1.body.conv1``)."""
        return owner_of(self.owners, parameter.rpartition(".")[0]) or self.owners[parameter.split(".")[0]]

    def quotients(self, parameter: str, flat_index: int, delta: float, g0: float) -> tuple[float, float, bool]:
        """(forward, central) difference quotients of eq. (1) for one entry, and whether a kink lay between."""
        tensor = dict(self.parameters)[parameter]
        stage = self.stage_for(parameter)
        flat = tensor.data.view(-1)
        v = float(flat[flat_index])
        try:
            flat[flat_index] = v + delta
            g_plus, kink_plus = self.loss_from(stage)
            flat[flat_index] = v - delta
            g_minus, kink_minus = self.loss_from(stage)
        finally:
            flat[flat_index] = v
        return (g_plus - g0) / delta, (g_plus - g_minus) / (2 * delta), kink_plus or kink_minus
