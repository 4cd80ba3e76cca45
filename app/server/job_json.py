"""A Meshsmith job in the reviewed server's JSON shapes (status names, ``result`` keys, file
infos and URLs), plus what that server never had: real progress, the stage, why a queued job
waits and the ETA. Builders stat files: call them off the event loop."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from app.server.backend import Live
from app.server.store import iso
from engine.jobs import Job, JobState

# An interrupted job waits for someone to resume it, not for the queue: "failed" (with the
# INTERRUPTED code and the sentence that says how to resume) lets a polling client stop.
STATUS = {JobState.QUEUED: "queued", JobState.INTERRUPTED: "failed",
          JobState.RUNNING: "processing", JobState.SUCCEEDED: "completed",
          JobState.FAILED: "failed", JobState.CANCELLED: "cancelled"}
STATUS_NAMES = ("queued", "processing", "completed", "failed", "cancelled")
_TYPES = {".glb": "model/gltf-binary", ".gltf": "model/gltf+json", ".obj": "model/obj",
          ".ply": "model/x-ply", ".stl": "model/stl", ".off": "model/x-off",
          ".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp",
          ".json": "application/json"}


def states_of(status: str) -> list[JobState]:
    return [state for state, name in STATUS.items() if name == status]


def content_type(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(str(path))[0] or "application/octet-stream"


def file_info(path: str | None) -> dict[str, Any] | None:
    if not path or not Path(path).is_file():
        return None
    size = Path(path).stat().st_size
    return {"filename": Path(path).name, "file_size_bytes": size,
            "file_size_mb": round(size / 2**20, 3), "content_type": content_type(path),
            "file_extension": Path(path).suffix}


def job_inputs(job: Job) -> dict[str, str]:
    """The staged inputs under the reviewed server's names (``mesh_path``, ``image_path``)."""
    named: dict[str, str] = {}
    for path in job.spec.inputs:
        role = "image" if content_type(path).startswith("image/") else "mesh"
        named.setdefault(f"{role}_path", path)
    return named


def processing_time(job: Job) -> float | None:
    if job.started_at and job.finished_at:
        return round(job.finished_at - job.started_at, 3)
    return None


def job_status(job: Job, live: Live, base_url: str) -> dict[str, Any]:
    """GET /api/v1/system/jobs/{id}."""
    status = STATUS[job.state]
    return {
        "job_id": job.job_id, "feature": job.spec.feature, "status": status,
        "inputs": {**job_inputs(job), **job.spec.params},
        "model_preference": job.spec.adapter, "assigned_model": job.spec.adapter,
        "user_id": job.user or None, "priority": 1,
        "progress": 1.0 if status == "completed" else round(live.fraction, 4),
        "stage": live.stage or _stage_of(status), "wait_cause": live.cause,
        "eta_seconds": None if live.eta_s is None else round(live.eta_s, 1),
        "created_at": iso(job.created_at), "started_at": iso(job.started_at),
        "completed_at": iso(job.finished_at), "processing_time": processing_time(job),
        "result": job_result(job, base_url),
        "error": job.error.message if job.error else None,
        "error_code": job.error.code if job.error else None,
        "metadata": {"feature_type": job.spec.feature,
                     "pipeline": job.pipeline.model_dump() if job.pipeline else None},
        "retry_count": max(0, job.attempts - 1),
    }


def _stage_of(status: str) -> str:
    return {"queued": "queued", "processing": "starting"}.get(status, status)


def job_result(job: Job, base_url: str) -> dict[str, Any] | None:
    """The reviewed ``result`` keys around Meshsmith's own result contract (engine.jobs)."""
    if job.result is None or job.state is not JobState.SUCCEEDED:
        return None
    result = job.result.model_dump(mode="json")
    mesh, thumb = result["output_file_path"], result["thumbnail_path"]
    urls = f"{base_url.rstrip('/')}/api/v1/system/jobs/{job.job_id}"
    mesh_info, thumb_info = file_info(mesh), file_info(thumb)
    return {
        **result, "output_mesh_path": mesh,
        "mesh_url": f"{urls}/download" if mesh_info else None, "mesh_file_info": mesh_info,
        "thumbnail_url": f"{urls}/thumbnail" if thumb_info else None,
        "thumbnail_file_info": thumb_info,
        "generation_info": generation_info(job),
    }


def generation_info(job: Job) -> dict[str, Any]:
    result = job.result
    return {"model_used": job.spec.adapter, "parameters": job.spec.params,
            "thumbnail_generated": bool(result and result.thumbnail_path),
            "generation_time": result.timings.run_s if result else None,
            "vertex_count": result.stats.get("vertices") if result else None,
            "face_count": result.stats.get("faces") if result else None}


def job_info(job: Job) -> dict[str, Any]:
    """GET /api/v1/system/jobs/{id}/info: the result file described, not downloaded."""
    base = {"job_id": job.job_id, "status": STATUS[job.state]}
    if job.result is None or job.state is not JobState.SUCCEEDED:
        return {**base, "has_result": False, "message": "No result available"}
    mesh = job.result.output_file_path
    info = file_info(mesh)
    described = ({**info, "file_extension": info["file_extension"].lstrip("."),
                  "file_exists": True} if info
                 else {"file_exists": False, "error": "Output file not found"})
    urls = f"/api/v1/system/jobs/{job.job_id}"
    return {
        **base, "has_result": True, "created_at": iso(job.created_at),
        "completed_at": iso(job.finished_at), "processing_time": processing_time(job),
        "file_info": described, "generation_info": generation_info(job),
        "result_metadata": job.result.model_dump(mode="json", exclude={"output_file_path"}),
        "mesh_download_urls": {"direct_download": f"{urls}/download",
                               "base64_download": f"{urls}/download?format=base64"},
        "thumbnail_download_urls": {"direct_download": f"{urls}/thumbnail",
                                    "base64_download": f"{urls}/thumbnail?format=base64"}
        if job.result.thumbnail_path else {},
    }


def history_entry(job: Job) -> dict[str, Any]:
    """One row of GET /api/v1/system/jobs/history."""
    result = job.result if job.state is JobState.SUCCEEDED else None
    return {"job_id": job.job_id, "status": STATUS[job.state], "feature": job.spec.feature,
            "created_at": iso(job.created_at), "completed_at": iso(job.finished_at),
            "model_preference": job.spec.adapter, "user_id": job.user or None,
            "processing_time": processing_time(job),
            "output_mesh_path": result.output_file_path if result else None,
            "thumbnail_path": result.thumbnail_path if result else None,
            "error": job.error.message if job.error else None}
