"""Training through ``torch.compile``, with its cost counted as compile time and a way back to eager.

``torch.compile`` compiles when the forward first meets a new input shape or
mode (the first step, the short last batch of an epoch, ...): those steps take
seconds that are compilation, not training. :class:`CompiledForward` times them
(from the forward to the end of the optimizer step, where the backward graph is
compiled too) so the engine can keep them out of its images per second and
report them as compile time. When compiling fails (no C compiler, an operator
the compiler does not support, ...) the failing step is run again eagerly and
every later one too; :attr:`CompiledForward.fallback_reason` says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def compile_forward(forward: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile`` with its defaults (the inductor backend); compilation itself waits for the first call."""
    return torch.compile(forward)


class CompiledForward:
    """A model's forward through ``torch.compile``, falling back to the eager forward if compiling fails.

    Call it as the forward; call :meth:`step_done` after each optimizer step: it
    returns the seconds that step spent compiling (0.0 for an ordinary step).
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor],
                 compile_function: Callable | None = None) -> None:
        self.eager = forward
        self._compiled = (compile_function or compile_forward)(forward)
        self.fallback_reason: str | None = None
        self.compile_seconds = 0.0  # every compiling step so far
        self.compiled_steps = 0
        self._seen: set[tuple] = set()
        self._compiling_since: float | None = None

    @property
    def compiled(self) -> bool:
        """True while training goes through the compiled forward (False after a fallback)."""
        return self.fallback_reason is None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.fallback_reason is not None:
            return self.eager(images)
        key = (tuple(images.shape), tuple(images.stride()), images.dtype, torch.is_grad_enabled())
        if key in self._seen:
            return self._compiled(images)
        self._seen.add(key)
        self._synchronise(images)
        self._compiling_since = time.perf_counter()
        try:
            return self._compiled(images)
        except Exception as error:  # noqa: BLE001 - whatever stops the compiler, training goes on eagerly
            self.fallback_reason = _describe(error)
            return self.eager(images)  # a genuine error (bad shapes, out of memory) raises again here

    def step_done(self, device: torch.device | None = None) -> float:
        """Seconds the step just finished spent compiling (its whole time), or 0.0 when it did not compile."""
        if self._compiling_since is None:
            return 0.0
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)
        spent = time.perf_counter() - self._compiling_since
        self._compiling_since = None
        self.compile_seconds += spent
        self.compiled_steps += 1
        return spent

    @staticmethod
    def _synchronise(images: torch.Tensor) -> None:
        # Work queued before this step is not compilation: let it finish before the clock starts.
        if images.device.type == "cuda":
            torch.cuda.synchronize(images.device)


def _describe(error: Exception) -> str:
    """The compiler's complaint in one line (its messages run to pages)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines[:2])  # e.g. "backend='inductor' raised: InvalidCxxCompiler: No working C++ compiler"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def compile_message(forward: CompiledForward) -> str:
    """A sentence for the run's log: compile time, or why training went on without compiling."""
    if forward.fallback_reason is not None:
        return (f"torch.compile failed, training continues uncompiled: {forward.fallback_reason} "
                f"(turn 'compile' off to skip the attempt)")
    return (f"torch.compile: {forward.compile_seconds:.1f} s compiling over {forward.compiled_steps} step(s), "
            "kept out of the training speed")
