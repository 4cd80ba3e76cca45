"""FastAPI dependencies the routes share, ``get_job_for_user`` first among them: the one place
a job is fetched and checked against who asks (instead of the same checks in every route)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from app.server.auth import Caller, caller
from app.server.backend import Backend
from app.server.config import ServerConfig
from app.server.errors import not_found
from app.server.store import ServerStore
from engine.jobs import Job


def get_backend(request: Request) -> Backend:
    # read per request: serve may swap in its own engine when the studio it used closes
    return request.app.state.backend


def get_store(request: Request) -> ServerStore:
    return request.app.state.store


def get_config(request: Request) -> ServerConfig:
    return request.app.state.config


CallerDep = Annotated[Caller, Depends(caller)]
BackendDep = Annotated[Backend, Depends(get_backend)]
StoreDep = Annotated[ServerStore, Depends(get_store)]
ConfigDep = Annotated[ServerConfig, Depends(get_config)]


async def get_job_for_user(job_id: str, who: CallerDep, backend: BackendDep) -> Job:
    """The job, if it exists and the caller may see it; otherwise a 404 either way, so that
    job ids of other users cannot be told from ids that do not exist."""
    job = await asyncio.to_thread(backend.get, job_id)
    if job is None or not who.owns(job.user):
        raise not_found(f"job {job_id}")
    return job


JobDep = Annotated[Job, Depends(get_job_for_user)]
