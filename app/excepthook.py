"""One safety net for the GUI: an exception in any slot or async slot is logged, shown as one
sentence, and never takes the studio down."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from engine.errors import MeshsmithError

log = logging.getLogger("app.excepthook")


def sentence_for(exc: BaseException) -> str:
    if isinstance(exc, MeshsmithError):
        return exc.message
    detail = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"Something went wrong ({what}); the studio keeps running and the details are in the log."


class _Relay(QObject):
    # Exceptions can surface on any thread; the dialog must open on the GUI thread.
    raised = Signal(str)


class ExceptionHandler:
    def __init__(self, parent: QWidget | None, show: Callable[[str], None] | None = None) -> None:
        self.parent = parent
        self.shown: list[str] = []
        self._show = show or self._dialog
        self._relay = _Relay()
        self._relay.raised.connect(self._on_relay_raised)

    def handle(self, exc_type: type[BaseException], exc: BaseException,
               tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("uncaught exception: %s", "".join(traceback.format_exception(exc_type, exc, tb)))
        self._relay.raised.emit(sentence_for(exc))

    def handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    def handle_loop(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception") or RuntimeError(context.get("message", "unknown error"))
        self.handle(type(exc), exc, exc.__traceback__)

    def _on_relay_raised(self, message: str) -> None:
        self.shown.append(message)
        # Show it after the failing slot has unwound, never inside it.
        QTimer.singleShot(0, lambda: self._show(message))

    def _dialog(self, message: str) -> None:
        QMessageBox.warning(self.parent, "Meshsmith", message)


def install_excepthook(parent: QWidget | None,
                       show: Callable[[str], None] | None = None) -> ExceptionHandler:
    """Route uncaught exceptions of the GUI thread and other threads to one handler; the
    asyncio loop's go there too once the studio calls ``loop.set_exception_handler``."""
    handler = ExceptionHandler(parent, show)
    sys.excepthook = handler.handle
    threading.excepthook = handler.handle_thread
    return handler
