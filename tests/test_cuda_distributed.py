"""A one-process NCCL group under torchrun: the engine's distributed path (DDP, SyncBN, all-reduce) on one GPU.

With one GPU torchrun can start only one process, and the engine treats a
world of one as a single process. The script below joins the NCCL group that
torchrun describes and hands the engine a group that counts as distributed, so
DistributedDataParallel, SyncBatchNorm and the NCCL all-reduce of the read-backs
all run. Marked ``cuda``; skipped without a GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SCRIPT = r'''
import json, sys
import torch
import torch.distributed as dist
from convstudio.core.design import Design
from convstudio.core.training import engine
from convstudio.core.training.distributed import ProcessGroup, all_reduce_sum
from convstudio.core.training.records import RunEnded
from convstudio.core.training.settings import TrainingSettings


class OneProcessGroup(ProcessGroup):
    """World size one, but taking the distributed path (DDP, SyncBN, all-reduce)."""

    @property
    def is_distributed(self):
        return True


dist.init_process_group("nccl")
group = OneProcessGroup(0, 1, 0)
engine.join_process_group = lambda device_type: group
summed = all_reduce_sum(torch.ones(3, device="cuda"), group).tolist()
design = Design.model_validate({
    "name": "nccl", "input": {"channels": 3, "height": 32, "width": 32},
    "layers": [{"kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"kind": "batchnorm"},
               {"kind": "maxpool2d", "kernel_size": 4}, {"kind": "flatten"},
               {"kind": "linear", "out_features": 10, "activation": "none"}]})
settings = TrainingSettings(dataset="shapes", data_limit=512, epochs=1, batch_size=32, device="cuda",
                            sync_batchnorm=True, mc_samples=1, precision="fp32", channels_last="off")
run = engine.TrainingRun(design, settings, sys.argv[1])
ended = [record for record in run.records() if isinstance(record, RunEnded)][-1]
kinds = sorted({type(module).__name__ for module in run._forward.modules()})
print(json.dumps({"summed": summed, "reason": ended.reason.value, "message": ended.message, "modules": kinds}))
'''


def test_one_process_nccl_group_with_syncbn_under_torchrun(tmp_path):
    script = tmp_path / "nccl_run.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                           str(script), str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["summed"] == [1.0, 1.0, 1.0]
    assert report["reason"] == "finished", report["message"]
    assert "DistributedDataParallel" in report["modules"] and "SyncBatchNorm" in report["modules"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "ended"
