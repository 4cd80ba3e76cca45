"""Hostile and broken requests: each gets a 4xx and one sentence, never a traceback, and no
job is left behind."""

from __future__ import annotations

import os

import pytest

from tests.server.conftest import Api

ROUTE = "/api/v1/mesh-segmentation/segment-mesh"


def one_sentence(answer) -> str:
    body = answer.json()
    message = body["message"]
    assert 400 <= answer.status_code < 500, (answer.status_code, body)
    assert body["detail"] == message and body["error"].isupper(), body
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message, body
    return message


def no_jobs(api: Api) -> bool:
    return api.get("/api/v1/system/jobs/history").json()["pagination"]["total"] == 0


def test_bad_json_and_wrong_shapes_are_each_one_sentence(api, box_obj):
    cases = {
        "not json": (b"{'mesh_base64': nope", "The request body is not valid JSON."),
        "a list": (b"[1, 2]", "The request body must be a JSON object."),
        "no input": (b"{}", "Give exactly one of mesh_path, mesh_base64 or mesh_file_id."),
        "two inputs": (b'{"mesh_base64": "AAAA", "mesh_file_id": "x"}',
                       "Give exactly one of mesh_path, mesh_base64 or mesh_file_id, not 2."),
        "wrong type": (b'{"mesh_file_id": "x", "num_parts": "many"}', None),
        "out of range": (b'{"mesh_file_id": "x", "num_parts": 1000}', None),
        "obj output": (b'{"mesh_file_id": "x", "output_format": "fbx"}', None),
    }
    for label, (body, expected) in cases.items():
        answer = api.post(ROUTE, content=body, headers={"Content-Type": "application/json"})
        message = one_sentence(answer)
        assert answer.status_code == 422, label
        if expected:
            assert message == expected, label
    assert one_sentence(api.post(ROUTE, json={"mesh_file_id": "x", "num_parts": 1000})
                        ).startswith("num_parts:")
    assert no_jobs(api)


def test_bad_base64_and_bad_files_are_refused_before_any_job_exists(api, tmp_path):
    cases = {
        "not base64": "this is %%% not base64 at all!",
        "empty": "",
        "noise": b64_bytes(os.urandom(3000)),
        "text": b64_bytes(b"remember to buy milk\n" * 20),
        "truncated data uri": "data:model/gltf-binary;base64,Z2xURgIAAAA",
    }
    for label, text in cases.items():
        answer = api.post(ROUTE, json={"mesh_base64": text, "model_preference": "spectral"})
        message = one_sentence(answer)
        assert answer.status_code in (400, 422), (label, message)
    assert one_sentence(api.post(ROUTE, json={"mesh_base64": "%%%"})) == (
        "The base64 data is not valid base64 text.")
    assert no_jobs(api)


def b64_bytes(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_a_huge_body_is_a_413_whether_declared_or_streamed(serve, tmp_path):
    api = serve(max_body_bytes=1024 * 1024)
    huge = b'{"mesh_base64": "' + b"A" * (3 * 1024 * 1024) + b'"}'
    declared = api.post(ROUTE, content=huge, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    assert one_sentence(declared).startswith("The request is larger than this server accepts")

    def chunks():  # no Content-Length: the server counts as the bytes arrive
        yield huge[: 512 * 1024]
        yield huge[512 * 1024:]

    streamed = api.post(ROUTE, content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and one_sentence(streamed)
    big_file = tmp_path / "big.obj"
    big_file.write_bytes(b"v 0 0 0\n" * 300_000)
    with big_file.open("rb") as handle:
        upload = api.post("/api/v1/file-upload/mesh", files={"file": ("big.obj", handle)})
    assert upload.status_code == 413 and one_sentence(upload)
    assert api.get("/health").status_code == 200  # and it still serves
    assert no_jobs(api)


def test_uploads_are_judged_by_content(api, tmp_path, box_obj):
    picture = tmp_path / "picture.png"
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(picture)
    renamed = tmp_path / "model.glb"
    renamed.write_bytes(picture.read_bytes())
    with renamed.open("rb") as handle:
        wrong_kind = api.post("/api/v1/file-upload/mesh", files={"file": ("model.glb", handle)})
    assert one_sentence(wrong_kind) == ("model.glb is an image, not a mesh; upload it to "
                                        "/api/v1/file-upload/image.")
    garbage = tmp_path / "noise.ply"
    garbage.write_bytes(os.urandom(2048))
    for name in ("noise.ply", "../../etc/noise\nname.ply", "no\x07ise.\x1bply"):
        with garbage.open("rb") as handle:
            refused = api.post("/api/v1/file-upload/mesh", files={"file": (name, handle)})
        assert refused.status_code == 400 and one_sentence(refused), name
    missing = api.post("/api/v1/file-upload/mesh", data={"nothing": "here"})
    assert missing.status_code == 422 and one_sentence(missing) == "file is required."
    assert api.get("/api/v1/file-upload/list").json()["files"] == []


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/api/v1/nowhere", 404), ("DELETE", "/api/v1/system/jobs/history", 405),
    ("GET", "/api/v1/system/jobs/history?limit=0", 422),
    ("GET", "/api/v1/system/jobs/history?status=exploded", 400),
    ("GET", "/api/v1/system/jobs/abc/download?format=zip", 404),
    ("GET", "/api/v1/system/jobs/..%2F..%2Fetc", 404),
    ("GET", "/api/v1/file-upload/metadata/nope", 404),
    ("DELETE", "/api/v1/file-upload/nope", 404),
    ("GET", "/api/v1/system/logs?since=yesterday", 400),
])
def test_odd_routes_and_queries_get_one_sentence(api, method, path, status):
    answer = api.client.request(method, path)
    assert answer.status_code == status, answer.text
    one_sentence(answer)
