"""Child processes die with their parent: the engine's workers, the studio's helpers.

On Linux the kernel does it (prctl PR_SET_PDEATHSIG: SIGKILL when the parent thread's
process ends, even by SIGKILL); a parent that died before the call is caught by comparing
the parent pid. Elsewhere only that comparison runs (the pipes' EOF still ends the workers).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Make the kernel kill this process when ``parent_pid`` dies, even by SIGKILL; and leave
    SIGINT to the parent: a terminal's Ctrl+C reaches the whole process group, and a worker
    that died of it would turn the parent's clean shutdown (the job cancelled or interrupted)
    into "the worker stopped unexpectedly"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # see spawning_shielded
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(3)


@contextlib.contextmanager
def spawning_shielded() -> Iterator[None]:
    """Start child processes inside this: SIGINT is blocked in the calling thread meanwhile,
    and a child inherits the mask, so a Ctrl+C while it imports its modules stays pending
    until ``die_with_parent`` ignores it (the signal would otherwise kill it half-started)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
