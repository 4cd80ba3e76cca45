"""The other end of ``engine.runtime.instance``: find the running studio and talk to it (no Qt).

``connect`` returns None when no studio listens (no socket, a stale one, or nobody
answering), so callers fall back to running their own engine.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import ErrorCode, MeshsmithError
from engine.runtime.instance import MAX_LINE, PROTOCOL, socket_path
from engine.storage.paths import DataDir

# The answers that end a request; ``watch`` has none: it streams until one side hangs up.
FINAL_EVENTS = ("result", "pipeline_result", "opened", "submitted", "ok")


class InstanceClient:
    def __init__(self, sock: socket.socket, studio_pid: int) -> None:
        self.sock = sock
        self.studio_pid = studio_pid
        self._reader = sock.makefile("rb")

    @classmethod
    def connect(cls, data: DataDir, timeout: float = 5.0) -> InstanceClient | None:
        path = socket_path(data)
        if not path.exists():
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)  # a studio that hangs must not hang this launch
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps({"op": "hello"}).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline(MAX_LINE) or b"{}")
        except (OSError, ValueError):
            sock.close()
            return None  # refused (a crashed studio's socket) or not a studio
        sock.close()
        if answer.get("event") != "hello" or answer.get("protocol") != PROTOCOL:
            return None
        # one request per connection: the hello proved someone listens, now open the real one
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            sock.close()
            return None
        sock.settimeout(None)  # jobs take as long as they take; the studio streams progress
        return cls(sock, int(answer.get("pid", 0)))

    def request(self, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Send ``message``; yield the studio's events until it hangs up. An ``error`` event
        becomes a MeshsmithError with the studio's sentence."""
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while line := self._reader.readline(MAX_LINE):
            event = json.loads(line)
            if event.get("event") == "error":
                raise MeshsmithError(_code(event.get("code")), str(event.get("message")))
            yield event
            if event.get("event") in FINAL_EVENTS:
                return
        raise MeshsmithError(ErrorCode.INTERRUPTED,
                             "The studio closed before the work was done.")

    def cancel(self) -> None:
        try:
            self.sock.sendall(b'{"op": "cancel"}\n')
        except OSError:
            pass

    def close(self) -> None:
        self._reader.close()
        self.sock.close()

    def __enter__(self) -> InstanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hand_off(data: DataDir, paths: list[str]) -> int | None:
    """Give ``paths`` to the running studio (it also comes to the front); returns its
    process id, or None when no studio runs."""
    client = InstanceClient.connect(data)
    if client is None:
        return None
    with client:
        for _event in client.request({"op": "open", "paths": absolute_sources(paths)}):
            pass
    return client.studio_pid


def absolute_sources(sources: list[str]) -> list[str]:
    """The studio runs in another folder: make file paths absolute, leave job:/base64:/data:
    sources as they are."""
    out = []
    for source in sources:
        path = Path(source).expanduser()
        out.append(str(path.resolve()) if os.path.lexists(path) else source)
    return out


def _code(value: Any) -> ErrorCode:
    try:
        return ErrorCode(value)
    except ValueError:
        return ErrorCode.ADAPTER_FAILED
