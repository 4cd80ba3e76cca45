"""One studio per machine: the running studio listens on a Unix socket in its data directory,
so a second launch hands it its files and ``main.py run``/``pipeline`` submit to its engine
(one engine owns the GPUs) instead of failing on the engine lock.

Only the holder of the engine lock serves, so a socket file left by a crash is stale by
definition and is replaced. The protocol is JSON lines: the client sends one request, the
server answers with events and a final ``result``/``pipeline_result``/``error``/``opened``.
While a job runs, the client may send ``{"op": "cancel"}``; if it hangs up, the job is
cancelled too (a killed CLI leaves nothing running). ``engine.runtime.instance_client`` is the other
end; nothing here needs Qt.

The HTTP API (``main.py serve`` while the studio is open) uses three more: ``submit`` queues a
job and answers ``submitted`` at once (the job outlives the connection), ``cancel_job`` cancels
one by id, and ``watch`` streams every job's progress, wait cause and state until hang-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import queue
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ErrorCode, MeshsmithError
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent
from engine.storage.paths import DataDir

if TYPE_CHECKING:
    from engine.pipelines.runner import PipelineRunner

log = logging.getLogger(__name__)
PROTOCOL = 1
MAX_LINE = 256 * 1024 * 1024  # a request may carry base64 inputs; nothing larger is read
_UNIX_PATH_MAX = 100  # sockaddr_un holds 108 bytes on Linux, 104 on macOS


def socket_path(data: DataDir) -> Path:
    """``<data>/studio.sock``, or, when that path is too long for a Unix socket, a name
    derived from it in a private runtime folder."""
    path = data.socket
    if len(os.fsencode(path)) < _UNIX_PATH_MAX:
        return path
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    folder = base / f"meshsmith-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(os.fsencode(data.root)).hexdigest()[:20]
    return folder / f"{digest}.sock"


class InstanceServer:
    """Serves the studio's engine to later launches. ``on_open`` gets forwarded paths on the
    server's thread (the studio turns that into a Qt signal)."""

    def __init__(self, engine: Engine, *, on_open: Callable[[list[str]], None],
                 pipelines: PipelineRunner | None = None) -> None:
        self.engine = engine
        self.on_open = on_open
        self.pipelines = pipelines
        self.path = socket_path(engine.data)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[str, queue.SimpleQueue] = {}  # job or pipeline id -> connection
        self._streams: set[threading.Event] = set()  # open ``watch`` streams, ended on close
        self._lock = threading.Lock()
        engine.subscribe(self._on_engine_event)

    def start(self) -> InstanceServer:
        self.path.unlink(missing_ok=True)  # we hold the engine lock: any old socket is stale
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        # only this user may talk to it (connecting needs write permission; not listening yet)
        os.chmod(self.path, 0o600)
        listener.listen(16)
        self._listener = listener
        if self.pipelines is not None:
            self.pipelines.subscribe(self._on_pipeline_event)
        self._thread = threading.Thread(target=self._accept, name="meshsmith-instance",
                                        daemon=True)
        self._thread.start()
        log.info("listening for other launches on %s", self.path)
        return self

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
            listener.close()
            self.path.unlink(missing_ok=True)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            for stream in self._streams:
                stream.set()  # a watcher hears the studio go, as when its process ends

    # ---- connections -------------------------------------------------------------------------
    def _accept(self) -> None:
        while (listener := self._listener) is not None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), name="meshsmith-instance-conn",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            send = _Sender(conn)
            try:
                request = _read(reader)
                if request is not None:
                    self._dispatch(request, reader, send)
            except MeshsmithError as exc:
                send({"event": "error", **exc.to_dict()})
            except (OSError, ValueError) as exc:
                log.info("a launch hung up or sent garbage: %s", exc)
            except Exception as exc:
                log.error("serving a launch failed", exc_info=True)
                send(_error(ErrorCode.ADAPTER_FAILED, f"The studio could not do that ({exc})."))

    def _dispatch(self, request: dict[str, Any], reader: Any, send: _Sender) -> None:
        op = request.get("op")
        if op == "hello":
            send({"event": "hello", "pid": os.getpid(), "protocol": PROTOCOL})
        elif op == "open":
            paths = [str(p) for p in _list(request, "paths")]
            self.on_open(paths)
            send({"event": "opened", "count": len(paths), "pid": os.getpid()})
        elif op == "run":
            self._run(request, reader, send)
        elif op == "pipeline" and self.pipelines is not None:
            self._pipeline(request, reader, send)
        elif op == "submit":
            send({"event": "submitted", "job_id": self._submit(request)})
        elif op == "cancel_job":
            self.engine.cancel(str(request.get("job_id", "")))
            send({"event": "ok"})
        elif op == "watch":
            self._watch(reader, send)
        else:
            send(_error(ErrorCode.INVALID_INPUT, f"The studio does not know {op!r}."))

    def _submit(self, request: dict[str, Any]) -> str:
        engine = self.engine
        timeout_s = _timeout(request.get("timeout_s"))  # checked before anything is staged
        staged = [engine.stage(str(source)) for source in _list(request, "inputs")]
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise MeshsmithError(ErrorCode.INVALID_PARAMS, "Parameters must be KEY=VALUE pairs.")
        adapter = request.get("adapter")
        return engine.submit(str(request.get("feature", "")), staged,
                             adapter=str(adapter) if adapter else None, params=params,
                             user=str(request.get("user") or ""),
                             timeout_s=timeout_s)

    def _watch(self, reader: Any, send: _Sender) -> None:
        """Every engine event, as the ``run`` op streams them, until the client hangs up."""
        events: queue.SimpleQueue = queue.SimpleQueue()
        self.engine.subscribe(events.put)
        gone = threading.Event()
        _watch_for_cancel(reader, gone, gone.set)  # here a hang-up only ends the stream
        with self._lock:
            self._streams.add(gone)
        try:
            alive = send({"event": "watching"})
            while alive and not gone.is_set():
                try:
                    event = events.get(timeout=1.0)
                except queue.Empty:  # a keep-alive line notices a client that went away
                    alive = send({"event": "watching"})
                    continue
                alive = send(_progress(event))
        finally:
            self.engine.unsubscribe(events.put)
            with self._lock:
                self._streams.discard(gone)
            with contextlib.suppress(OSError):  # wakes the reading thread; the client sees EOF
                send.conn.shutdown(socket.SHUT_RDWR)

    def _run(self, request: dict[str, Any], reader: Any, send: _Sender) -> None:
        engine, events = self.engine, queue.SimpleQueue()
        job_id = self._submit(request)
        self._route(job_id, events)
        try:
            send({"event": "queued", "job_id": job_id})
            job = engine.get(job_id)
            if job is not None and job.state.terminal:  # finished before it was routed here
                events.put(JobEvent("updated", job_id, job=job))
            done = threading.Event()
            _watch_for_cancel(reader, done, lambda: engine.cancel(job_id))
            while True:
                event: JobEvent = events.get()
                if event.kind == "updated" and event.job is not None and event.job.state.terminal:
                    break
                if not send(_progress(event)):
                    engine.cancel(job_id)  # the launch went away: so does its job
            result = engine.wait(job_id)
            done.set()
            send({"event": "result", "result": result.model_dump(mode="json")})
        finally:
            self._unroute(job_id)

    def _pipeline(self, request: dict[str, Any], reader: Any, send: _Sender) -> None:
        runner, events, seen = self.pipelines, queue.SimpleQueue(), set()
        pipeline_id = runner.start(str(request.get("recipe", "")), request.get("input"))
        self._route(pipeline_id, events)
        future = runner.future(pipeline_id)
        future.add_done_callback(lambda f: events.put(("finished", f.result())))
        try:
            send({"event": "pipeline", "pipeline_id": pipeline_id})
            for index, job_id in enumerate(runner.job_ids(pipeline_id)):  # before routing
                events.put(("step", index, job_id))
            done = threading.Event()
            _watch_for_cancel(reader, done, lambda: runner.cancel(pipeline_id))
            while True:
                item = events.get()
                if isinstance(item, JobEvent):
                    if not send(_progress(item)):
                        runner.cancel(pipeline_id)
                elif item[0] == "step" and item[2] not in seen:
                    seen.add(item[2])
                    self._route(item[2], events)
                    send({"event": "step", "step": item[1], "job_id": item[2]})
                elif item[0] == "finished":
                    done.set()
                    send({"event": "pipeline_result", "result": item[1].model_dump(mode="json")})
                    return
        finally:
            self._unroute(pipeline_id, *seen)

    # ---- routing engine and runner events to connections ------------------------------------
    def _route(self, key: str, events: queue.SimpleQueue) -> None:
        with self._lock:
            self._routes[key] = events

    def _unroute(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._routes.pop(key, None)

    def _on_engine_event(self, event: JobEvent) -> None:
        with self._lock:
            events = self._routes.get(event.job_id)
        if events is not None:
            events.put(event)

    def _on_pipeline_event(self, event: Any) -> None:
        with self._lock:
            events = self._routes.get(event.pipeline_id)
        if events is not None and event.kind == "step":
            events.put(("step", event.step, event.job_id))


class _Sender:
    """Writes one JSON line; remembers a hung-up client instead of raising."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.alive = conn, True

    def __call__(self, message: dict[str, Any]) -> bool:
        if self.alive:
            try:
                self.conn.sendall(json.dumps(message).encode() + b"\n")
            except OSError:
                self.alive = False
        return self.alive


def _read(reader: Any) -> dict[str, Any] | None:
    line = reader.readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, "The request is too large.")
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a request must be a JSON object")
    return message


def _timeout(value: Any) -> float | None:
    """A run's own time limit (``main.py run --timeout``); None: the adapter's."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise MeshsmithError(ErrorCode.INVALID_PARAMS,
                             f"The time limit must be a positive number of seconds, not {value!r}.")
    return float(value)


def _list(request: dict[str, Any], key: str) -> list[Any]:
    value = request.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


def _watch_for_cancel(reader: Any, done: threading.Event, cancel: Callable[[], None]) -> None:
    """A thread that reads the client's side: ``cancel`` on {"op": "cancel"} or a hang-up
    before the work is done."""

    def watch() -> None:
        try:
            while (message := _read(reader)) is not None:
                if message.get("op") == "cancel" and not done.is_set():
                    cancel()
        except (OSError, ValueError, MeshsmithError):
            pass
        if not done.is_set():
            cancel()

    threading.Thread(target=watch, name="meshsmith-instance-watch", daemon=True).start()


def _progress(event: JobEvent) -> dict[str, Any]:
    if event.kind == "progress":
        return {"event": "progress", "job_id": event.job_id, "stage": event.stage,
                "fraction": event.fraction, "eta_s": event.eta_s}
    if event.kind == "waiting":
        return {"event": "waiting", "job_id": event.job_id, "cause": event.cause,
                "eta_s": event.eta_s}
    state = event.job.state.value if event.job is not None else ""
    return {"event": "state", "job_id": event.job_id, "state": state, "eta_s": event.eta_s}


def _error(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"event": "error", "code": code.value, "message": message}
