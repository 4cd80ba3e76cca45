"""Every feature Meshsmith has, through the HTTP API as a client of the reviewed server uses
it: upload, submit, poll, download; the GLBs pass the Khronos validator."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import trimesh
from PIL import Image, ImageDraw

from tests.adapters.test_autorig import figure_mesh
from tests.server.conftest import Api, b64
from tests.support.gltf_validator import assert_valid_glb


def _disk_png(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    picture = Image.new("RGB", (160, 160), (255, 255, 255))
    ImageDraw.Draw(picture).ellipse((30, 40, 130, 120), fill=colour)
    picture.save(path)
    return path


def _download(api: Api, job_id: str, folder: Path) -> Path:
    answer = api.get(f"/api/v1/system/jobs/{job_id}/download")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "model/gltf-binary"
    path = folder / f"{job_id}.glb"
    path.write_bytes(answer.content)
    assert_valid_glb(path)
    return path


@pytest.mark.slow
def test_every_feature_runs_from_upload_to_a_valid_downloaded_glb(api, tmp_path, box_obj):
    figure = tmp_path / "figure.ply"
    figure_mesh().export(figure)
    sphere = tmp_path / "sphere.glb"
    trimesh.creation.icosphere(3).export(sphere)
    picture = _disk_png(tmp_path / "disk.png")
    mesh_id, image_id = api.upload("mesh", sphere), api.upload("image", picture)
    requests = {
        "/mesh-uv-unwrapping/unwrap-mesh": {"mesh_file_id": api.upload("mesh", box_obj)},
        "/mesh-retopology/retopologize-mesh": {"mesh_base64": b64(sphere),
                                               "target_vertex_count": 100},
        "/mesh-segmentation/segment-mesh": {"mesh_file_id": api.upload("mesh", figure),
                                            "num_parts": 3},
        "/auto-rigging/generate-rig": {"mesh_file_id": api.upload("mesh", figure)},
        "/mesh-generation/image-to-raw-mesh": {"image_file_id": image_id},
        "/mesh-generation/image-to-textured-mesh": {"image_base64": b64(picture)},
        "/mesh-generation/image-mesh-painting": {"image_file_id": image_id,
                                                 "mesh_file_id": mesh_id},
        "/mesh-generation/text-to-raw-mesh": {"text_prompt": "a round pebble",
                                              "model_preference": "prompt_sphere"},
        "/mesh-generation/text-to-textured-mesh": {"text_prompt": "a red ball",
                                                   "texture_prompt": "glossy",
                                                   "model_preference": "prompt_sphere"},
    }
    submitted = {}
    for route, body in requests.items():
        answer = api.post(f"/api/v1{route}", json=body)
        assert answer.status_code == 200, (route, answer.text)
        assert answer.json()["status"] == "queued" and answer.json()["job_id"]
        submitted[route] = answer.json()
    finished = {route: api.wait(s["job_id"]) for route, s in submitted.items()}
    for route, status in finished.items():
        assert status["status"] == "completed", (route, status["error"])
        assert status["progress"] == 1.0 and status["result"]["mesh_url"].endswith("/download")
        _download(api, status["job_id"], tmp_path)
    retopo = finished["/mesh-retopology/retopologize-mesh"]
    assert retopo["inputs"]["target_faces"] == 200  # 2 faces per vertex, as documented
    assert submitted["/mesh-generation/text-to-textured-mesh"]["notes"] == [
        "texture_prompt has no counterpart in prompt_sphere and was not used."]
    # the parts of the segmented figure go on to part completion, uploaded again by the client
    parts = _download(api, finished["/mesh-segmentation/segment-mesh"]["job_id"], tmp_path)
    completion = api.post("/api/v1/mesh-generation/part-completion",
                          json={"mesh_file_id": api.upload("mesh", parts)})
    assert completion.status_code == 200, completion.text
    done = api.wait(completion.json()["job_id"])
    assert done["status"] == "completed", done["error"]
    assert done["feature"] == "part_completion" and done["result"]["stats"]["faces"] > 0
    _download(api, done["job_id"], tmp_path)


@pytest.mark.slow
def test_a_job_reports_progress_stage_and_thumbnail_and_downloads_as_base64(api, box_obj):
    answer = api.post("/api/v1/mesh-segmentation/segment-mesh",
                      json={"mesh_base64": b64(box_obj), "model_preference": "sleepy",
                            "params": {"steps": 40, "step_s": 0.05}})
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["job_id"]
    seen = set()
    while (status := api.get(f"/api/v1/system/jobs/{job_id}").json())["status"] != "completed":
        if status["status"] == "processing" and status["progress"] > 0:
            seen.add(status["stage"])
        assert status["status"] in ("queued", "processing"), status
    assert any(stage.startswith("step ") for stage in seen), seen
    thumb = api.get(f"/api/v1/system/jobs/{job_id}/thumbnail?format=base64").json()
    assert base64.b64decode(thumb["base64_data"])[:8] == b"\x89PNG\r\n\x1a\n"
    glb = api.get(f"/api/v1/system/jobs/{job_id}/download", params={"format": "base64"}).json()
    assert trimesh.load(io.BytesIO(base64.b64decode(glb["base64_data"])), file_type="glb")
    info = api.get(f"/api/v1/system/jobs/{job_id}/info").json()
    assert info["has_result"] and info["file_info"]["file_exists"]
    assert info["file_info"]["file_extension"] == "glb"


def test_an_unknown_model_is_a_400_naming_the_available_ones(api, box_obj):
    answer = api.post("/api/v1/mesh-retopology/retopologize-mesh",
                      json={"mesh_base64": b64(box_obj), "model_preference": "fastmesh_v1k"})
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert message == ("Model 'fastmesh_v1k' is not available for mesh_retopology; available "
                       "models: decimate, instant_meshes.")
    none = api.post("/api/v1/mesh-generation/text-mesh-painting",
                    json={"mesh_base64": b64(box_obj), "text_prompt": "rust"})
    assert none.status_code == 400
    assert none.json()["detail"] == "No model is available for text_mesh_painting; available " \
                                    "models: none."


def test_a_model_without_its_weights_is_unavailable_and_says_why(serve, box_obj, tmp_path):
    api = serve()
    answer = api.post("/api/v1/mesh-generation/image-to-raw-mesh",
                      json={"image_base64": b64(_disk_png(tmp_path / "p.png")),
                            "model_preference": "shap_e_img2img"})
    assert answer.status_code == 400
    assert "Shap-E image-to-3D weights are not installed" in answer.json()["message"]
    assert answer.json()["message"].endswith("available models: inflate.")
    models = api.get("/api/v1/system/models").json()["available_models"]
    assert models["image_to_raw_mesh"] == ["inflate"]
    assert "text_mesh_painting" not in models


def test_the_openapi_page_and_schema_stay_on(api):
    assert api.get("/docs").status_code == 200
    schema = api.get("/openapi.json").json()
    for path in ("/api/v1/system/jobs/{job_id}", "/api/v1/file-upload/mesh",
                 "/api/v1/auto-rigging/generate-rig", "/api/v1/mesh-segmentation/segment-mesh",
                 "/api/v1/mesh-retopology/retopologize-mesh", "/api/v1/mesh-uv-unwrapping/"
                 "unwrap-mesh", "/auth/login", "/health"):
        assert path in schema["paths"], path


def test_segmentation_without_num_parts_or_with_null_lets_the_adapter_choose_the_count():
    from adapters.registry import default_registry
    from app.server.features import MeshSegmentationRequest, adapter_params

    spec = default_registry().find("mesh_segmentation", None)
    for body in ({"mesh_file_id": "x"}, {"mesh_file_id": "x", "num_parts": None}):
        params, notes = adapter_params(MeshSegmentationRequest(**body), spec)
        assert "num_parts" not in params and notes == []
        assert spec.parse_params(params).num_parts is None  # automatic
    params, _ = adapter_params(MeshSegmentationRequest(mesh_file_id="x", num_parts=5), spec)
    assert params == {"num_parts": 5}
