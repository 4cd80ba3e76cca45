"""One engine per data directory: ``main.py serve`` while the studio is open hands its jobs to
the studio's engine over the local socket; when the studio closes, serve goes on with an
engine of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from engine.jobs import JobState
from engine.runtime.engine import Engine
from engine.runtime.instance import InstanceServer
from tests.conftest import ROOT
from tests.server.conftest import b64


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError("main.py serve did not start")


def poll(client: httpx.Client, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/system/jobs/{job_id}").json()
        if status["status"] in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.slow
def test_serve_hands_jobs_to_the_open_studio_and_takes_over_when_it_closes(
        data_dir, test_registry, box_obj):
    studio_engine = Engine(data_dir, registry=test_registry, cancel_grace_s=1.0).start()
    studio = InstanceServer(studio_engine, on_open=lambda paths: None).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port)],
                            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until_serving(url, proc)
        with httpx.Client(base_url=url, timeout=60) as client:
            body = {"mesh_base64": b64(box_obj)}
            first = client.post("/api/v1/mesh-uv-unwrapping/unwrap-mesh", json=body)
            assert first.status_code == 200, first.text
            job_id = first.json()["job_id"]
            assert poll(client, job_id)["status"] == "completed"
            ran_here = studio_engine.get(job_id)  # the studio's engine ran it, tagged
            assert ran_here.state is JobState.SUCCEEDED and ran_here.user == "api"
            studio.close()
            studio_engine.shutdown()
            deadline = time.monotonic() + 60
            while True:  # serve notices and starts its own engine
                second = client.post("/api/v1/mesh-uv-unwrapping/unwrap-mesh", json=body)
                if second.status_code == 200 or time.monotonic() > deadline:
                    break
                assert second.status_code == 503, second.text
                time.sleep(0.5)
            assert second.status_code == 200, second.text
            assert poll(client, second.json()["job_id"])["status"] == "completed"
            history = client.get("/api/v1/system/jobs/history").json()["jobs"]
            assert {j["job_id"] for j in history} == {job_id, second.json()["job_id"]}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
        studio.close()
        studio_engine.shutdown()
    assert "on the studio's engine" in err and "an engine of our own" in err, err


def test_serve_refuses_a_bad_setup_with_one_sentence_and_exit_2(tmp_path):
    for args, expected in (
        (["--allow-path", str(tmp_path / "nowhere")], "does not exist."),
        (["--port", "many"], "invalid int value"),
    ):
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "serve", *args],
                              cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                              timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("meshsmith") and expected in lines[0], lines
