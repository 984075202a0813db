"""SIGTERM/SIGINT as a request to stop, however many arrive and in whatever order.

A scheduler pre-empting a ``--num-gpus N`` run sends SIGTERM to the whole process group; the
spawn parent may add its own SIGINT (``PR_SET_PDEATHSIG``) and the launcher forwards what it
receives. While ``StopSignals`` is installed, the first signal is recorded and every later one
is recorded too but does nothing else, so that a process saves its checkpoint once and is not
killed while writing it. The exit status is ``128 + SIGTERM`` (143) whenever a SIGTERM was among
the signals (the run was pre-empted), else ``128 + SIGINT`` (130).
"""
from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any, Callable

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_exit_code(received: list[int]) -> int:
    """``128 + SIGTERM`` if any of ``received`` is a SIGTERM, else ``128 +`` the first one."""
    if not received:
        raise ValueError("no stop signal was received")
    signum = signal.SIGTERM if signal.SIGTERM in received else received[0]
    return 128 + int(signum)


class StopSignals:
    """Context manager recording SIGTERM/SIGINT instead of acting on them.

    ``on_signal(signum, first)`` runs in the handler for every signal (``first`` for the first
    one), e.g. to log or to forward it. Outside the main thread Python cannot install handlers;
    the block then runs without them and logs that signals keep their usual effect.

    With ``ignore_after_stop``, leaving the block after a signal arrived ignores SIGTERM/SIGINT
    for the rest of the process (which is exiting) instead of restoring the previous handlers:
    a late signal of the same pre-emption (the process group's, a forwarded one) must not raise
    ``KeyboardInterrupt`` in the middle of the teardown. Interrupting
    ``dist.destroy_process_group`` that way leaves gloo's threads running into the
    interpreter's finalization, where they can abort the process (SIGABRT).
    """

    def __init__(self, on_signal: Callable[[int, bool], None] | None = None, *, ignore_after_stop: bool = False) -> None:
        self.received: list[int] = []
        self._on_signal = on_signal
        self._ignore_after_stop = ignore_after_stop
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return bool(self.received)

    @property
    def exit_code(self) -> int:
        return stop_exit_code(self.received)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = not self.received
        self.received.append(signum)
        if self._on_signal is not None:
            self._on_signal(signum, first)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread():
            logger.warning("Not in the main thread: SIGTERM/SIGINT keep their usual effect here")
            return self
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        ignore = self._ignore_after_stop and self.requested
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if ignore else handler)
        self._previous.clear()
