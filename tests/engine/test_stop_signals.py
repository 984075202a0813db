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


def test_signals_after_a_stop_are_ignored_when_asked():
    """A late SIGINT must not raise KeyboardInterrupt in a worker's teardown (which left gloo's
    threads to the interpreter's finalization, where they could abort the process)."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with StopSignals(ignore_after_stop=True) as stop:
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt with the old handler
        os.kill(os.getpid(), signal.SIGTERM)  # would kill the process with the default handler
        assert stop.received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)

    with StopSignals(ignore_after_stop=True):  # no stop requested: the handlers come back
        pass
    assert {signum: signal.getsignal(signum) for signum in before} == before
