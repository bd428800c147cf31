"""The torchrun command lines that run ``convstudio train`` on several processes or machines.

Plain Python (no torch import), so ``convstudio launch`` prints a line at once;
:mod:`core.training.distributed` is what the processes run once started.
"""

from __future__ import annotations

import shlex
import sys


def torchrun_command(nproc: int, train_args: list[str], nnodes: int = 1, rdzv_endpoint: str | None = None,
                     node_rank: int | None = None) -> list[str]:
    """The torchrun line that runs ``convstudio train`` with ``train_args`` on nproc processes per node."""
    command = [sys.executable, "-m", "torch.distributed.run"]
    if nnodes == 1 and rdzv_endpoint is None:
        command += ["--standalone", f"--nproc-per-node={nproc}"]
    else:
        command += [f"--nnodes={nnodes}", f"--nproc-per-node={nproc}", "--rdzv-backend=c10d",
                    f"--rdzv-endpoint={rdzv_endpoint or 'HOST:29500'}"]
        if node_rank is not None:
            command.append(f"--node-rank={node_rank}")
    return command + ["-m", "convstudio", "train", *train_args]


def format_command(command: list[str]) -> str:
    """A command as one shell line."""
    return " ".join(shlex.quote(part) for part in command)
