"""The studio serving the HTTP API from its menu (app.server) on its own engine, so jobs sent
by scripts and other machines' clients appear in Jobs and History, tagged with their user.

Binding the port and shutting uvicorn down take a moment: both run on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QObject, QSettings, Signal
from qasync import asyncSlot

from app.bridge import EngineBridge
from app.server.backend import EngineBackend
from app.server.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig
from app.server.runner import ServerThread
from engine.errors import MeshsmithError

log = logging.getLogger(__name__)


class ServingViewModel(QObject):
    serving_changed = Signal(str)  # the API's address while it serves; "" once stopped
    error_raised = Signal(str)  # one sentence

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None, *,
                 config: ServerConfig | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        settings = QSettings()
        self.config = config or ServerConfig(
            host=str(settings.value("server/host", DEFAULT_HOST)),
            port=int(settings.value("server/port", DEFAULT_PORT)))
        self._server: ServerThread | None = None
        self.busy = False  # starting or stopping
        self.url = ""

    @property
    def serving(self) -> bool:
        return self._server is not None

    def set_serving(self, on: bool) -> None:
        """What the menu's check box asks for."""
        if on and not self.serving:
            self.start()
        elif not on and self.serving:
            self.stop()

    def start(self) -> None:
        if self.busy or self.serving:
            return
        self.busy = True
        self._start()

    @asyncSlot()
    async def _start(self) -> None:
        """Open the server on an executor thread (binding and starting take a moment)."""
        try:
            server = await asyncio.get_running_loop().run_in_executor(None, self._open)
        except Exception as exc:  # every failure becomes a sentence
            self._on_worker_failed(exc)
            return
        self._on_worker_started(server)

    def stop(self) -> None:
        if self.busy or self._server is None:
            return
        server, self._server, self.busy = self._server, None, True
        self._stop(server)

    @asyncSlot()
    async def _stop(self, server: ServerThread) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, _close, server)
        except Exception:  # it stops serving either way; the log says why it complained
            log.exception("stopping the API failed")
        finally:
            self._on_worker_stopped()

    def release(self) -> None:
        """The window closes: stop serving now, before the engine goes."""
        server, self._server = self._server, None
        if server is not None:
            _close(server)

    def _open(self) -> ServerThread:
        backend = EngineBackend(self.bridge.engine)
        try:
            server = ServerThread(backend, self.config)
            server.start()
        except BaseException:
            backend.close()
            raise
        return server

    def _on_worker_started(self, server: ServerThread) -> None:
        self.busy, self._server, self.url = False, server, server.url
        self.serving_changed.emit(self.url)

    def _on_worker_failed(self, exc: Exception) -> None:
        self.busy = False
        message = exc.message if isinstance(exc, MeshsmithError) else (
            f"The API could not start ({exc}).")
        self.error_raised.emit(message)
        self.serving_changed.emit("")

    def _on_worker_stopped(self) -> None:
        self.busy, self.url = False, ""
        self.serving_changed.emit("")


def _close(server: ServerThread) -> None:
    server.stop()
    server.backend.close()
