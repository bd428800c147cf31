"""``convstudio launch``: the torchrun line for a multi-process run, printed or run.

    convstudio launch --nproc 4 -- presets/cifar10.json --dataset cifar10 --epochs 30 --out runs/c10
    convstudio launch --nproc 8 --nnodes 2 --rdzv-endpoint head:29500 -- design.json ...

Without ``--run`` it prints the command (for a cluster script); with ``--run``
it starts torchrun here and returns its exit status.
"""

from __future__ import annotations

import argparse
import subprocess

from convstudio.core.training.torchrun import format_command, torchrun_command


def add_launch_parser(commands) -> None:
    """Register ``launch`` on the CLI's subcommands."""
    launch = commands.add_parser("launch", help="print or run the torchrun command for a multi-process run")
    launch.add_argument("--nproc", type=int, required=True, help="processes per machine (one per GPU)")
    launch.add_argument("--nnodes", type=int, default=1, help="machines taking part")
    launch.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="rendezvous address for several machines")
    launch.add_argument("--node-rank", type=int, help="this machine's index (several machines)")
    launch.add_argument("--run", action="store_true", help="start torchrun here instead of printing the command")
    launch.add_argument("train_args", nargs=argparse.REMAINDER, metavar="-- TRAIN ARGS",
                        help="arguments for convstudio train, after --")
    launch.set_defaults(handler=run_launch)


def run_launch(args: argparse.Namespace) -> int:
    """Handler of ``convstudio launch``."""
    train_args = list(args.train_args)
    if train_args and train_args[0] == "--":
        train_args = train_args[1:]
    if args.nproc < 1:
        print("convstudio launch: --nproc must be at least 1")
        return 2
    command = torchrun_command(args.nproc, train_args, args.nnodes, args.rdzv_endpoint, args.node_rank)
    if not args.run:
        print(format_command(command))
        return 0
    return subprocess.call(command)
