"""Worker processes that end with their parent: the initializer of every process pool adsearch starts."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

_log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): the signal a process gets when its parent dies
_WATCHDOG_S = 1.0  # how often a worker checks that its parent is alive (where prctl is unavailable)


def die_with_parent(parent_pid: int) -> None:
    """Worker-process initializer: end this worker when the process that started it ends, even by SIGKILL.

    On Linux the kernel sends SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG); everywhere a daemon thread
    checks every second that the parent is still this process's parent. Without this, the workers of a killed
    ingest or synth run (and the resource tracker, which lives as long as they do) are re-parented to init and
    run forever.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                _log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as e:  # no libc symbol: the watchdog still works
            _log.debug("no prctl: %s", e)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCHDOG_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
