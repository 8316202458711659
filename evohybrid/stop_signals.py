"""Stop signals end a command the way Ctrl-C does: finished work stays on disk, one line says how to continue.

SIGTERM is what slurm, Kubernetes and systemd send first, SIGHUP what a closed terminal sends. Both become a
KeyboardInterrupt in the main thread, and the command exits with 128 + the signal's number.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []  # the stop signal that arrived, if any
_installed = False


def _stop(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGTERM and SIGHUP like Ctrl-C in this process (from the main thread only, as Python requires)."""
    global _installed
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, _stop)
        _installed = True


def reinstall() -> None:
    """Take SIGTERM and SIGHUP back after a library replaced their handlers (Ray's native code installs a stack
    dumper for SIGTERM when it starts)."""
    if _installed:
        install()


def exit_code() -> int:
    """128 + the stop signal's number: 143 for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C."""
    return 128 + (_received[-1] if _received else signal.SIGINT)


def signal_name() -> str:
    return signal.Signals(_received[-1]).name if _received else "Ctrl-C"
