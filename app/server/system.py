"""``/api/v1/system/...``: the machine, the adapters, jobs (status, result files, cancel,
history) and the engine's structured logs. Every job route gets its job from
``get_job_for_user``; every file and database read runs off the event loop."""

from __future__ import annotations

import asyncio
import base64
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psutil
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from app.server import job_json
from app.server.auth import Caller, admin
from app.server.deps import BackendDep, CallerDep, ConfigDep, JobDep
from app.server.errors import ApiError, not_found
from app.server.logs_reader import recent_logs
from engine.jobs import Job, JobState

VERSION = "1.0.0"  # the reviewed API's version this server answers as
router = APIRouter(prefix="/api/v1/system", tags=["System"])


async def health() -> dict[str, Any]:
    return {"status": "healthy", "timestamp": time.time(), "version": VERSION}


router.add_api_route("/health", health, methods=["GET"], summary="Health check")


@router.get("/auth-status", summary="Whether requests need a token")
async def auth_status(config: ConfigDep) -> dict[str, Any]:
    on = config.auth_required
    return {"user_auth_enabled": on, "api_key_required": on,
            "mode": "authenticated" if on else "simple",
            "description": ("User authentication enabled - Users can only see their own jobs"
                            if on else "Simple mode - All clients can see all jobs"),
            "features": {"job_isolation": on, "user_management": True, "role_based_access": on},
            "timestamp": datetime.now(UTC).isoformat()}


@router.get("/info", summary="System information")
async def info(who: CallerDep, backend: BackendDep, config: ConfigDep) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "system": {"platform": platform.platform(), "python_version": platform.python_version(),
                   "cpu_count": os.cpu_count(), "memory_total": memory.total,
                   "memory_available": memory.available},
        "application": {"name": "Meshsmith", "version": VERSION, "engine": backend.kind,
                        "python": sys.executable},
        "configuration": {"server": {"host": config.host, "port": config.port, "workers": 1,
                                     "auth_required": config.auth_required},
                          "storage": {"data_dir": str(backend.data.root),
                                      "path_inputs": config.path_root is not None}},
    }


@router.get("/status", summary="Machine, GPU and queue status")
async def status(who: CallerDep, backend: BackendDep) -> dict[str, Any]:
    return await asyncio.to_thread(_status, backend, who)


def _status(backend: Any, who: Caller) -> dict[str, Any]:
    memory, disk = psutil.virtual_memory(), shutil.disk_usage(backend.data.root)
    count = backend.store.count
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "system": {"cpu_usage": psutil.cpu_percent(interval=None),
                   "memory": {"total": memory.total, "available": memory.available,
                              "used": memory.used, "percent": memory.percent},
                   "disk": {"total": disk.total, "free": disk.free, "used": disk.used,
                            "percent": round(disk.used / disk.total * 100, 1)}},
        "gpu": [{"id": i, "device": m.device, "name": m.name, "memory_total": m.total_mb,
                 "memory_used": m.used_mb, "memory_free": m.free_mb,
                 "memory_utilization": round(m.used_mb / m.total_mb, 3) if m.total_mb else 0}
                for i, m in enumerate(backend.devices())],
        "models": {"available": len(backend.registry.specs)},
        "queue": {"pending_jobs": count(states=[JobState.QUEUED], user=who.scope),
                  "processing_jobs": count(states=[JobState.RUNNING], user=who.scope),
                  "completed_jobs": count(states=[JobState.SUCCEEDED], user=who.scope)},
    }


@router.get("/models", summary="Adapters (model_preference values) per feature")
async def models(who: CallerDep, backend: BackendDep,
                 feature: str | None = None) -> dict[str, Any]:
    available = await asyncio.to_thread(backend.installed)
    if feature is not None:
        if feature not in available:
            raise not_found(f"feature {feature} with an installed adapter")
        return {"feature": feature, "models": available[feature]}
    details = {f"{s.feature}/{s.id}": s.describe() for s in backend.registry.specs}
    return {"available_models": available, "total_features": len(available),
            "total_models": sum(len(ids) for ids in available.values()),
            "models_details": details}


@router.get("/features", summary="Features and their adapters")
async def features(backend: BackendDep) -> dict[str, Any]:
    available = await asyncio.to_thread(backend.installed)
    listed = [{"name": name, "model_count": len(ids), "models": ids}
              for name, ids in available.items()]
    return {"features": listed, "total_features": len(listed)}


@router.get("/supported-formats", summary="Input and output formats")
async def supported_formats() -> dict[str, Any]:
    from app.server.features import supported_formats as formats

    return {**await formats(), "download": ["file", "base64"]}


@router.get("/jobs/history", summary="Past jobs, newest first, with filters and pages")
async def jobs_history(
    request: Request, who: CallerDep, backend: BackendDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
    status: str | None = None, feature: str | None = None,
) -> dict[str, Any]:
    if status is not None and status not in job_json.STATUS_NAMES:
        raise ApiError(400, "INVALID_VALUE", f"Invalid status {status}; valid statuses: "
                       f"{', '.join(job_json.STATUS_NAMES)}.")
    states = job_json.states_of(status) if status else None

    def read() -> tuple[list[Job], int]:
        store = backend.store
        return (store.list(states=states, feature=feature, user=who.scope, limit=limit,
                           offset=offset),
                store.count(states=states, feature=feature, user=who.scope))

    jobs, total = await asyncio.to_thread(read)
    return {"jobs": [job_json.history_entry(job) for job in jobs],
            "pagination": {"limit": limit, "offset": offset, "total": total,
                           "has_more": offset + len(jobs) < total},
            "filters": {"status": status, "feature": feature}, "timestamp": time.time()}


@router.get("/jobs/{job_id}", summary="A job's status, progress, wait cause, ETA and result")
async def job_status(job: JobDep, request: Request, backend: BackendDep) -> dict[str, Any]:
    live = backend.live.get(job.job_id)
    return await asyncio.to_thread(job_json.job_status, job, live, str(request.base_url))


@router.get("/jobs/{job_id}/info", summary="A job's result file, described")
async def job_info(job: JobDep) -> dict[str, Any]:
    return await asyncio.to_thread(job_json.job_info, job)


@router.post("/jobs/{job_id}/cancel", summary="Cancel a queued or running job (Meshsmith)")
async def cancel(job: JobDep, backend: BackendDep) -> dict[str, Any]:
    if job.state.terminal:
        raise ApiError(409, "CONFLICT", f"Job {job.job_id} has already "
                       f"{job_json.STATUS[job.state]}.")
    await asyncio.to_thread(backend.cancel, job.job_id)
    return {"job_id": job.job_id, "message": "Cancellation requested", "cancelled": True}


Format = Annotated[str, Query(pattern="^(file|base64)$", description="file or base64")]


def _finished_file(job: Job, which: str) -> str:
    if job.state is not JobState.SUCCEEDED or job.result is None:
        raise ApiError(400, "JOB_NOT_COMPLETED", f"Job {job.job_id} is not completed yet; "
                       f"its status is {job_json.STATUS[job.state]}.")
    if which == "mesh":
        return job.result.output_file_path or ""
    if which == "thumbnail" and job.result.thumbnail_path:
        return job.result.thumbnail_path
    raise not_found(f"thumbnail for job {job.job_id}")


async def _send_file(job: Job, path: str, format: str, filename: str | None,
                     default_name: str) -> Any:
    if not await asyncio.to_thread(Path(path).is_file):
        raise not_found(f"file left for job {job.job_id}; it may have been deleted")
    name = filename or default_name
    if format == "base64":
        data = await asyncio.to_thread(Path(path).read_bytes)
        encoded = await asyncio.to_thread(lambda: base64.b64encode(data).decode("ascii"))
        return {"job_id": job.job_id, "filename": name, "content_type": job_json.content_type(path),
                "file_size_mb": round(len(data) / 2**20, 3), "base64_data": encoded,
                "generation_info": job_json.generation_info(job),
                "download_time": datetime.now(UTC).isoformat()}
    return FileResponse(path, filename=name, media_type=job_json.content_type(path),
                        headers={"X-Job-ID": job.job_id})


@router.get("/jobs/{job_id}/download", summary="The result GLB (file or base64)")
async def download(job: JobDep, format: Format = "file", filename: str | None = None) -> Any:
    path = _finished_file(job, "mesh")
    return await _send_file(job, path, format, filename, f"result_{job.job_id}.glb")


@router.get("/jobs/{job_id}/thumbnail", summary="The result's thumbnail PNG (file or base64)")
async def thumbnail(job: JobDep, format: Format = "file", filename: str | None = None) -> Any:
    path = _finished_file(job, "thumbnail")
    return await _send_file(job, path, format, filename, f"thumbnail_{job.job_id}.png")


@router.get("/jobs/{job_id}/input", summary="The job's input image (file or base64)")
async def job_input(job: JobDep, format: Format = "file", filename: str | None = None) -> Any:
    path = job_json.job_inputs(job).get("image_path")
    if path is None:
        raise not_found(f"input image for job {job.job_id}")
    return await _send_file(job, path, format, filename, Path(path).name)


@router.get("/logs", summary="Recent entries of the engine's JSON-lines logs")
async def logs(
    backend: BackendDep, who: Annotated[Caller, Depends(admin)],
    lines: Annotated[int, Query(ge=1, le=10_000)] = 100, level: str | None = None,
    logger_name: str | None = None, since: str | None = None,
) -> dict[str, Any]:
    return await asyncio.to_thread(recent_logs, backend.data.logs, lines, level, logger_name,
                                   since)
