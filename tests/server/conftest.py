"""A real uvicorn on a loopback port, on a real engine with real worker processes, driven by
httpx; the adapters are the real ones plus the tests' fast fakes."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.server.backend import EngineBackend
from app.server.config import ServerConfig
from app.server.runner import ServerThread
from engine.contract.spec import Registry
from tests.server.fake_text import prompt_spec

DONE = ("completed", "failed", "cancelled")


@pytest.fixture
def test_registry(test_registry: Registry) -> Registry:
    """The tests' registry plus fast prompt adapters for the text features."""
    return Registry([*test_registry.specs, prompt_spec("text_to_raw_mesh"),
                     prompt_spec("text_to_textured_mesh")])


@dataclass
class Api:
    url: str
    client: httpx.Client
    thread: ServerThread

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.post(path, **kw)

    def upload(self, kind: str, path: Path, headers: dict | None = None) -> str:
        with path.open("rb") as handle:
            answer = self.post(f"/api/v1/file-upload/{kind}", files={"file": (path.name, handle)},
                               headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["file_id"]

    def wait(self, job_id: str, headers: dict | None = None, timeout: float = 240) -> dict:
        """Poll the job until it ends, as a client would."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get(f"/api/v1/system/jobs/{job_id}", headers=headers)
            assert status.status_code == 200, status.text
            if status.json()["status"] in DONE:
                return status.json()
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s")


@pytest.fixture
def serve(engine) -> Iterator[Callable[..., Api]]:
    """Start a server on an ephemeral loopback port with the given config changes."""
    started: list[Api] = []

    def start(**changes: Any) -> Api:
        config = replace(ServerConfig(port=0), **changes)
        thread = ServerThread(EngineBackend(engine), config)
        url = thread.start()
        api = Api(url, httpx.Client(base_url=url, timeout=120), thread)
        started.append(api)
        return api

    yield start
    for api in started:
        api.client.close()
        api.thread.stop()
        api.thread.backend.close()


@pytest.fixture
def api(serve) -> Api:
    return serve()


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
