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


def detach(loop: qasync.QEventLoop, app: QCoreApplication) -> None:
    """Cancel the tasks left on ``loop``, let each see it, then close the loop (which waits
    for its executor's threads)."""
    left = asyncio.all_tasks(loop)
    for task in left:
        task.cancel()
    while not all(task.done() for task in left):
        app.processEvents()
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)
