"""SIGTERM and SIGINT close the studio through its normal close path.

Qt's event loop runs in C++, so a Python signal handler alone would wait for the next bit of
Python to run (which may be never on an idle studio). ``signal.set_wakeup_fd`` makes the C
handler write the signal's number to a socket; a QSocketNotifier on the other end wakes the
loop, Python runs the handler, and the handler closes the window and quits the application.
``app.studio`` then shuts the engine down as after any close: running jobs are recorded
interrupted (never ``running``), workers and helpers exit.

A second signal while the studio is closing ends it at once (the default action), as the
artist who presses Ctrl+C twice expects; the next engine start repairs its rows.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

from PySide6.QtCore import QSocketNotifier, QTimer

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignals:
    """While installed, a stop signal calls ``close`` once on the GUI thread. ``uninstall``
    puts back the previous handlers and wake-up descriptor."""

    def __init__(self, close: Callable[[], None],
                 signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self._close = close
        self._signals = signals
        self.received: list[int] = []
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._drain)
        self._old_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._old_handlers: dict[int, Any] = {
            sig: signal.signal(sig, self._on_signal) for sig in signals}

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            return  # already closing; the handlers are back to default by now
        log.info("received %s: closing the studio", signal.Signals(signum).name)
        for sig in self._signals:
            signal.signal(sig, signal.SIG_DFL)  # a second signal stops the studio at once
        QTimer.singleShot(0, self._close)  # outside whatever Python code the signal cut into

    def _drain(self, *_args: object) -> None:
        # Reading the byte is all it takes: running this slot lets Python call _on_signal.
        try:
            while self._read.recv(64):
                pass
        except BlockingIOError:
            pass

    def uninstall(self) -> None:
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._old_fd)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._read.close()
        self._write.close()


def close_on_stop_signals(app: Any, window: Any) -> StopOnSignals:
    """SIGTERM/SIGINT close ``window`` (saving its layout, releasing its view models) and
    quit ``app``, so ``app.studio`` runs the same shutdown as when the artist closes it."""

    def close() -> None:
        window.close()
        app.quit()  # even when a dialog keeps another top-level window open

    return StopOnSignals(close)
