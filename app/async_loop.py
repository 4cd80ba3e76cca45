"""The studio's asyncio loop (qasync) where Qt is spun by someone else than ``app.exec()``.

``app.studio`` runs its loop with ``run_until_complete``. Tests (pytest-qt's ``waitUntil`` /
``waitSignal``) and benchmarks (their own ``processEvents`` loops) spin Qt themselves: for
them ``attach`` makes a ``qasync.QEventLoop`` on the application and marks it running, as
qasync does for an application that is already running, so the view models' ``async`` slots
step whenever Qt processes events. See docs/async.md.
"""

from __future__ import annotations

import asyncio

import qasync
from PySide6.QtCore import QCoreApplication


def attach(app: QCoreApplication) -> qasync.QEventLoop:
    """A loop on ``app``, current and running for asyncio from now on."""
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    return loop


# The reason a task is cancelled with when the studio closes: a flow awaiting a job then
# leaves the job to the engine (interrupted, resumed at the next start) instead of cancelling it.
CLOSING = "the studio is closing"


def cancel_left(loop: qasync.QEventLoop, app: QCoreApplication, reason: str | None = None) -> None:
    """Cancel the tasks left on ``loop`` (with ``reason``) and let each see it, whether or not
    the loop still runs (``app.processEvents`` steps them)."""
    left = asyncio.all_tasks(loop)
    for task in left:
        task.cancel(reason)
    running = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(loop)
    try:
        while not all(task.done() for task in left):
            app.processEvents()
    finally:
        asyncio.events._set_running_loop(running)


def detach(loop: qasync.QEventLoop, app: QCoreApplication) -> None:
    """Cancel the tasks left on ``loop``, let each see it, then close the loop (which waits
    for its executor's threads)."""
    cancel_left(loop, app)
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)
