"""Two runs on one OUTPUT_DIR: the second refuses, naming the first's process; the lock goes
with the process however it ends."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ov_avss.engine import default_argument_parser, default_main
from ov_avss.engine.output_lock import LOCK_FILE, OutputDirInUseError, output_dir_lock

from toy_task import ToyTrainer, toy_opts

HOLD_LOCK = (
    "import sys, time\n"
    "from ov_avss.engine.output_lock import output_dir_lock\n"
    "with output_dir_lock(sys.argv[1]):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(600)\n"
)


@pytest.fixture
def other_run(tmp_path):
    """Another process holding the lock of ``tmp_path / 'out'``."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert process.stdout.readline().strip() == "locked"
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_a_second_run_refuses_naming_the_first(other_run, tmp_path, capsys):
    args = default_argument_parser().parse_args(toy_opts(str(tmp_path / "out")))
    with pytest.raises(SystemExit) as info:
        default_main(args, ToyTrainer)
    assert info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: OUTPUT_DIR") and f"process {other_run.pid} on " in line
    assert sorted(os.listdir(tmp_path / "out")) == [LOCK_FILE]  # the refused run wrote nothing


def test_the_lock_is_free_after_kill_9(other_run, tmp_path):
    other_run.send_signal(signal.SIGKILL)
    other_run.wait()
    with output_dir_lock(str(tmp_path / "out")):
        assert str(os.getpid()) in (tmp_path / "out" / LOCK_FILE).read_text()
    assert not (tmp_path / "out" / LOCK_FILE).exists()  # removed by a clean exit


def test_one_process_takes_it_again_after_releasing(tmp_path):
    with output_dir_lock(str(tmp_path)):
        pass
    with output_dir_lock(str(tmp_path)):
        with pytest.raises(OutputDirInUseError):  # a second holder, even in the same process
            with output_dir_lock(str(tmp_path)):
                pass
