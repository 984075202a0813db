"""StopSignals: any number of SIGTERM/SIGINT, in any order, are recorded without killing the
process; the exit status is 143 whenever a SIGTERM was among them."""
from __future__ import annotations

import os
import signal

import pytest

from ov_avss.engine.stop_signals import StopSignals, stop_exit_code


@pytest.mark.parametrize(
    "sequence, expected_code",
    [
        ((signal.SIGTERM,), 143),
        ((signal.SIGINT,), 130),
        ((signal.SIGTERM, signal.SIGINT), 143),
        ((signal.SIGINT, signal.SIGTERM), 143),
        ((signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT), 143),
        ((signal.SIGINT, signal.SIGINT), 130),
    ],
)
def test_every_signal_is_recorded_and_none_kills(sequence, expected_code):
    calls = []
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    with StopSignals(lambda signum, first: calls.append((signum, first))) as stop:
        for signum in sequence:
            os.kill(os.getpid(), signum)  # delivered before os.kill returns (same thread)
    assert stop.received == list(sequence)
    assert calls == [(signum, index == 0) for index, signum in enumerate(sequence)]
    assert stop.exit_code == expected_code
    assert {signum: signal.getsignal(signum) for signum in before} == before  # handlers restored


def test_no_signal_has_no_exit_code():
    with StopSignals() as stop:
        pass
    assert not stop.requested
    with pytest.raises(ValueError):
        stop_exit_code(stop.received)
