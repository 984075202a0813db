"""``kill -9`` of a process in the middle of writing a checkpoint: the previous checkpoint stays
the latest one and resuming continues from it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import torch

from ov_avss.checkpoint import Checkpointer

# Saves iteration 0, then starts writing iteration 1 and stops in the middle of the write (after
# some bytes went to the file), saying so, until it is killed.
WRITER = """
import sys, time, torch
from torch import nn
from ov_avss.checkpoint import Checkpointer

torch.manual_seed(0)
model = nn.Linear(3, 4)
checkpointer = Checkpointer(model, sys.argv[1])
checkpointer.save("model_0000000", iteration=0)
real_save = torch.save

def stalled_save(obj, f, *args, **kwargs):
    f.write(b"PK\\x03\\x04 the first bytes of a checkpoint")
    f.flush()
    print("writing", flush=True)
    time.sleep(600)

torch.save = stalled_save
with torch.no_grad():
    model.weight.add_(1.0)
checkpointer.save("model_0000001", iteration=1)
"""


def test_kill_9_while_writing_keeps_the_previous_checkpoint(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert not (tmp_path / "model_0000001.pth").exists()
    leftovers = [name for name in os.listdir(tmp_path) if name.startswith(".model_0000001.pth.")]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # hidden, never taken as a checkpoint

    torch.manual_seed(0)
    expected = torch.nn.Linear(3, 4).state_dict()
    model = torch.nn.Linear(3, 4)
    assert Checkpointer(model, str(tmp_path)).resume_or_load("", resume=True)["iteration"] == 0
    for name, value in expected.items():
        assert torch.equal(model.state_dict()[name], value), name
