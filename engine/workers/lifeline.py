"""Child processes die with their parent: the engine's workers, the studio's helpers.

On Linux the kernel does it (prctl PR_SET_PDEATHSIG: SIGKILL when the parent thread's
process ends, even by SIGKILL); a parent that died before the call is caught by comparing
the parent pid. Elsewhere only that comparison runs (the pipes' EOF still ends the workers).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Make the kernel kill this process when ``parent_pid`` dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(3)
