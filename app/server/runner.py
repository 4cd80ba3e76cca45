"""Running the API: ``main.py serve`` in the foreground, or a uvicorn thread the studio starts
and stops from its menu (``ServerThread``)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from app.server.application import build_app
from app.server.backend import Backend, EngineBackend, StudioBackend
from app.server.config import ServerConfig, config_from
from app.server.store import ServerStore
from engine.contract.spec import Registry
from engine.errors import ErrorCode, MeshsmithError
from engine.runtime.engine import Engine
from engine.runtime.instance_client import InstanceClient
from engine.storage.logs import log_path, remove_handler, setup_json_logging
from engine.storage.paths import DataDir

log = logging.getLogger(__name__)
STARTING_STUDIO_WAIT_S = 5.0


class ServerThread:
    """uvicorn on its own thread and event loop; ``start`` returns once it listens."""

    def __init__(self, backend: Backend, config: ServerConfig) -> None:
        self.backend, self.config = backend, config
        self.store = ServerStore(backend.data.db)
        self.app = build_app(backend, config, self.store)
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host=config.host, port=config.port, log_level="warning",
            access_log=False, lifespan="off", timeout_graceful_shutdown=5))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self.config.port
        if self.server.started and self.server.servers:
            port = self.server.servers[0].sockets[0].getsockname()[1]  # port 0: the one given
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{port}"

    def start(self, timeout_s: float = 30.0) -> str:
        self._thread = threading.Thread(target=self._run, name="meshsmith-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise MeshsmithError(ErrorCode.INVALID_INPUT, f"Could not listen on "
                                     f"{self.config.host}:{self.config.port}; another program "
                                     "may be using that port.")
            time.sleep(0.05)  # start-up only: uvicorn binds on its own thread
        log.info("serving the API on %s", self.url)
        return self.url

    def _run(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn's answer to a port it cannot bind: ``start`` says it
            pass

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        self.store.close()


def serve_command(args: argparse.Namespace, registry: Registry) -> int:
    config = config_from(args)
    data = DataDir.default().ensure()
    holder: dict[str, Any] = {}
    backend = open_backend(data, registry, lambda: _take_over(holder, registry))
    # an engine of our own logs this process already; beside the studio's, we log our own lines
    handler = setup_json_logging(log_path(data.logs)) if backend.kind != "own" else None
    server = ServerThread(backend, config)
    holder["app"] = server.app
    where = ("its own engine" if backend.kind == "own" else
             f"the studio's engine (process {getattr(backend, 'studio_pid', 0)})")
    print(f"meshsmith: serving http://{config.host}:{config.port} (docs at /docs) on {where}; "
          f"sign-in {'required' if config.auth_required else 'off (loopback)'}; Ctrl+C stops.",
          file=sys.stderr)
    if config.auth_required and server.store.user_count() == 0:
        print(f"meshsmith: no users yet: register the admin from this machine with POST "
              f"http://127.0.0.1:{config.port}/auth/register (docs/api.md).", file=sys.stderr)
    try:
        server.server.run()  # the foreground: Ctrl+C ends it
    finally:
        server.store.close()
        server.app.state.backend.close()  # maybe not ``backend``: see _take_over
        if handler is not None:
            remove_handler(handler)
    return 0


def open_backend(data: DataDir, registry: Registry,
                 on_lost: Callable[[], None] | None = None) -> Backend:
    """The running studio's engine when a studio is open (one engine per data directory),
    else an engine of our own."""
    deadline = time.monotonic() + STARTING_STUDIO_WAIT_S
    while True:
        client = InstanceClient.connect(data)
        if client is not None:
            client.close()
            return StudioBackend(data, registry, on_lost=on_lost)
        try:
            return EngineBackend(Engine(data, registry=registry).start(), owned=True)
        except MeshsmithError as exc:
            if exc.code is not ErrorCode.ENGINE_LOCKED or time.monotonic() > deadline:
                raise
        time.sleep(0.25)  # a studio is starting: it listens once its engine is up


def _take_over(app_state: dict[str, Any], registry: Registry) -> None:
    """The studio closed under us: run the jobs on an engine of our own from now on."""
    app = app_state.get("app")
    if app is None:
        return
    old: Backend = app.state.backend
    try:
        app.state.backend = open_backend(old.data, registry,
                                         lambda: _take_over(app_state, registry))
    except MeshsmithError as exc:
        log.error("the studio closed and no engine could take over: %s", exc.message)
        return
    log.info("the studio closed; this server now runs its own engine")
    print("meshsmith: the studio closed; serving on an engine of our own now.", file=sys.stderr)
    old.close()
