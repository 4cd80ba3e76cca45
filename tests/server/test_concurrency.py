"""Fifty clients submitting at once: every job is accepted, runs once and is found again."""

from __future__ import annotations

import asyncio
import base64
import io

import httpx
import pytest
import trimesh

CLIENTS = 50


def _mesh_b64(i: int) -> str:
    """A different box for each client, so fifty different files are staged at once."""
    data = io.BytesIO()
    trimesh.creation.box(extents=(1.0 + i / 10, 1.0, 0.5)).export(data, file_type="ply")
    return base64.b64encode(data.getvalue()).decode()


async def _submit_all(url: str) -> list[httpx.Response]:
    bodies = [{"mesh_base64": _mesh_b64(i), "model_preference": "sleepy",
               "params": {"steps": 1, "step_s": 0.0}} for i in range(CLIENTS)]
    clients = [httpx.AsyncClient(base_url=url, timeout=240) for _ in range(CLIENTS)]
    try:
        return await asyncio.gather(*(
            client.post("/api/v1/mesh-segmentation/segment-mesh", json=body)
            for client, body in zip(clients, bodies, strict=True)))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


@pytest.mark.slow
def test_fifty_clients_submitting_at_once_lose_no_job(api):
    answers = asyncio.run(_submit_all(api.url))
    assert [a.status_code for a in answers] == [200] * CLIENTS, [a.text for a in answers][:3]
    job_ids = [a.json()["job_id"] for a in answers]
    assert len(set(job_ids)) == CLIENTS
    finished = [api.wait(job_id) for job_id in job_ids]
    assert [f["status"] for f in finished] == ["completed"] * CLIENTS
    inputs = {f["inputs"]["mesh_path"] for f in finished}
    assert len(inputs) == CLIENTS  # each client's own file, staged once
    history = api.get("/api/v1/system/jobs/history", params={"limit": 500}).json()
    assert history["pagination"]["total"] == CLIENTS
    assert {j["job_id"] for j in history["jobs"]} == set(job_ids)
