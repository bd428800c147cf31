"""The optimizer state the engine reports, by the lecture's names (no torch here).

:mod:`core.training.optimizer_state` collects these quantities after a step;
the app's optimizer chart lists the same names for the optimizer chosen, so
the two cannot drift apart. Keys are the settings' optimizer names, which are
the torch.optim class names in lower case ("Adam" -> "adam").
"""

from __future__ import annotations

# The state tensors shown for each optimizer: lecture name -> torch.optim state key.
STATE_KEYS: dict[str, dict[str, str]] = {
    "adam": {"s": "exp_avg", "r": "exp_avg_sq"},
    "rmsprop": {"r": "square_avg"},
    "adagrad": {"accumulator": "sum"},
    "sgd": {"momentum": "momentum_buffer"},
    "lbfgs": {},
}
# Derived from the state above: Adam's bias-corrected moments (eq. 39).
BIAS_CORRECTED: dict[str, tuple[str, ...]] = {"adam": ("s_hat", "r_hat")}


def state_names(optimizer: str) -> tuple[str, ...]:
    """The quantities reported for ``optimizer`` (a settings name such as "adam"), in order."""
    return (*STATE_KEYS.get(optimizer, {}), *BIAS_CORRECTED.get(optimizer, ()))

