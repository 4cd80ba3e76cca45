"""Sign-in: off on loopback by default, required elsewhere; register issues no token, login a
short-lived one with a refresh step; users see only their own jobs and files (another user's
job is a 404, not a 403); failed logins are braked; paths only inside the allowed folder."""

from __future__ import annotations

import time

import pytest

from app.server.config import ServerConfig, is_loopback
from tests.server.conftest import Api, b64

QUICK = {"model_preference": "sleepy", "params": {"steps": 1, "step_s": 0.0}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_up(api: Api, name: str, admin_token: str | None = None) -> str:
    """Register ``name`` (the first one becomes the admin) and sign in; returns a token."""
    answer = api.post("/auth/register", json={"username": name, "password": f"{name}-secret"},
                      headers=bearer(admin_token) if admin_token else None)
    assert answer.status_code == 201, answer.text
    assert "token" not in answer.json() and "access_token" not in answer.json()
    login = api.post("/auth/login", json={"username": name, "password": f"{name}-secret"})
    assert login.status_code == 200, login.text
    return login.json()["access_token"]


@pytest.fixture
def secured(serve) -> tuple[Api, str, str, str]:
    """A server with sign-in on: an admin, alice and bob."""
    api = serve(auth=True)
    root = sign_up(api, "root")
    return api, root, sign_up(api, "alice", root), sign_up(api, "bob", root)


def test_loopback_serves_without_sign_in_and_any_other_host_requires_it():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    assert not ServerConfig().auth_required
    assert ServerConfig(host="0.0.0.0").auth_required
    with pytest.raises(ValueError, match="cannot be turned off"):
        ServerConfig(host="0.0.0.0", auth=False).check()


def test_a_server_on_all_addresses_refuses_requests_without_a_token(serve):
    api = serve(host="0.0.0.0")
    assert api.get("/health").status_code == 200  # health needs nobody
    answer = api.get("/api/v1/system/jobs/history")
    assert answer.status_code == 401
    assert answer.json()["message"].startswith("Sign in first")
    assert api.get("/api/v1/system/auth-status").json()["user_auth_enabled"] is True


def test_wrong_tampered_and_expired_tokens_are_refused_and_refresh_gives_a_new_one(serve):
    api = serve(auth=True, access_ttl_s=1.0)
    token = sign_up(api, "carol")
    assert api.get("/auth/me", headers=bearer(token)).json()["user"]["username"] == "carol"
    for wrong in ("nonsense", token[:-2] + "xx", "ms1.e30." + token.rsplit(".", 1)[1]):
        answer = api.get("/api/v1/system/jobs/history", headers=bearer(wrong))
        assert answer.status_code == 401 and answer.json()["message"].endswith(".")
    refresh = api.post("/auth/login", json={"username": "carol", "password": "carol-secret"}
                       ).json()["refresh_token"]
    time.sleep(1.2)
    expired = api.get("/api/v1/system/jobs/history", headers=bearer(token))
    assert expired.status_code == 401 and "expired" in expired.json()["message"]
    renewed = api.post("/auth/refresh", json={"refresh_token": refresh})
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()["access_token"]
    assert api.get("/api/v1/system/jobs/history", headers=bearer(fresh)).status_code == 200
    again = api.post("/auth/refresh", json={"refresh_token": refresh})  # spent on first use
    assert again.status_code == 401


def test_registration_is_closed_after_the_admin_unless_an_admin_adds_the_user(serve):
    api = serve(auth=True)
    root = sign_up(api, "root")
    closed = api.post("/auth/register", json={"username": "mallory", "password": "12345678"})
    assert closed.status_code == 403 and "ask an admin" in closed.json()["message"]
    taken = api.post("/auth/register", json={"username": "ROOT", "password": "12345678"},
                     headers=bearer(root))
    assert taken.status_code == 409
    short = api.post("/auth/register", json={"username": "dave", "password": "123"},
                     headers=bearer(root))
    assert short.status_code == 422 and short.json()["message"].startswith("password")
    reviewed_path = api.post("/api/v1/users/login",
                             json={"username": "root", "password": "root-secret"})
    assert reviewed_path.status_code == 200 and reviewed_path.json()["token"]


@pytest.mark.slow
def test_another_users_job_and_upload_are_404_and_the_admin_sees_everything(secured, box_obj):
    api, root, alice, bob = secured
    submitted = api.post("/api/v1/mesh-segmentation/segment-mesh", headers=bearer(alice),
                         json={"mesh_base64": b64(box_obj), **QUICK})
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["job_id"]
    assert api.wait(job_id, headers=bearer(alice))["user_id"] == "alice"
    for suffix in ("", "/info", "/download", "/thumbnail"):
        theirs = api.get(f"/api/v1/system/jobs/{job_id}{suffix}", headers=bearer(bob))
        missing = api.get(f"/api/v1/system/jobs/0123456789ab{suffix}", headers=bearer(bob))
        assert theirs.status_code == missing.status_code == 404, suffix
        assert theirs.json()["message"] == f"There is no job {job_id}."
        assert api.get(f"/api/v1/system/jobs/{job_id}{suffix}",
                       headers=bearer(root)).status_code == 200
    assert api.post(f"/api/v1/system/jobs/{job_id}/cancel", headers=bearer(bob)
                    ).status_code == 404
    assert api.get("/api/v1/system/jobs/history", headers=bearer(bob)).json()["jobs"] == []
    listed = api.get("/api/v1/system/jobs/history", headers=bearer(root)).json()["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    file_id = api.upload("mesh", box_obj, headers=bearer(alice))
    assert api.get(f"/api/v1/file-upload/metadata/{file_id}", headers=bearer(bob)
                   ).status_code == 404
    used = api.post("/api/v1/mesh-segmentation/segment-mesh", headers=bearer(bob),
                    json={"mesh_file_id": file_id, **QUICK})
    assert used.status_code == 404 and "uploaded file" in used.json()["message"]
    assert api.get("/api/v1/file-upload/list", headers=bearer(bob)).json()["files"] == []
    assert api.get("/api/v1/system/logs", headers=bearer(bob)).status_code == 403


def test_failed_logins_are_braked_even_for_the_right_password(serve):
    api = serve(auth=True, login_max_failures=3)
    sign_up(api, "erin")
    for _ in range(3):
        wrong = api.post("/auth/login", json={"username": "erin", "password": "guess-guess"})
        assert wrong.status_code == 401
        assert wrong.json()["message"] == "The user name or password is wrong."
    braked = api.post("/auth/login", json={"username": "erin", "password": "erin-secret"})
    assert braked.status_code == 429 and int(braked.headers["Retry-After"]) > 0
    assert braked.json()["message"].startswith("Too many failed sign-ins")


def test_paths_are_read_only_inside_the_allowed_folder(serve, tmp_path, box_obj):
    closed = serve()
    answer = closed.post("/api/v1/mesh-segmentation/segment-mesh",
                         json={"mesh_path": str(box_obj), **QUICK})
    assert answer.status_code == 403 and "reads no paths" in answer.json()["message"]
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "box.obj").write_bytes(box_obj.read_bytes())
    (shared / "sneaky.obj").symlink_to(box_obj)
    api = serve(path_root=shared)
    for outside in (str(box_obj), "../box.obj", "sneaky.obj", "/etc/passwd"):
        refused = api.post("/api/v1/mesh-segmentation/segment-mesh",
                           json={"mesh_path": outside, **QUICK})
        assert refused.status_code == 403, outside
        assert refused.json()["message"].endswith("is outside the folder this server reads "
                                                  "paths from."), outside
    inside = api.post("/api/v1/mesh-segmentation/segment-mesh",
                      json={"mesh_path": "box.obj", **QUICK})
    assert inside.status_code == 200, inside.text
    assert api.wait(inside.json()["job_id"])["status"] == "completed"


def test_cors_is_closed_by_default_and_open_to_named_origins(serve):
    preflight = {"Origin": "https://studio.example", "Access-Control-Request-Method": "POST"}
    closed = serve().client.options("/api/v1/system/features", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    api = serve(cors_origins=("https://studio.example",))
    opened = api.client.options("/api/v1/system/features", headers=preflight)
    assert opened.headers["access-control-allow-origin"] == "https://studio.example"
    other = api.get("/api/v1/system/features", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
