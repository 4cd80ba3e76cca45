"""The command line as an artist or a script uses it: real processes, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trimesh
from PIL import Image

from tests.conftest import ROOT
from tests.support.gltf_validator import assert_valid_glb


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy(), cwd=ROOT)


def history() -> list[dict]:
    proc = cli("history", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_run_uv_unwrapping_prints_the_result_as_the_last_json_line(box_obj, tmp_path):
    out = tmp_path / "exported"
    proc = cli("run", "uv_unwrapping", str(box_obj), "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "succeeded" and result["feature"] == "uv_unwrapping"
    assert_valid_glb(result["output_file_path"])
    assert (out / "box_uv.glb").is_file() and (out / "thumbnail.png").is_file()
    assert "100%" in proc.stderr  # the progress bar reached the end
    (entry,) = history()
    assert entry["job_id"] == result["job_id"] and entry["state"] == "succeeded"


@pytest.mark.slow
def test_run_with_params_and_adapter(sphere_ply):
    proc = cli("run", "mesh_retopology", str(sphere_ply), "--adapter", "decimate",
               "--param", "target_faces=500", "--json")
    assert proc.returncode == 0, proc.stderr
    assert abs(json.loads(proc.stdout.splitlines()[-1])["stats"]["faces"] - 500) <= 50


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {}
    files["empty"] = tmp_path / "empty.obj"
    files["empty"].write_bytes(b"")
    glb = tmp_path / "whole.glb"
    trimesh.creation.icosphere().export(glb)
    files["truncated glb"] = tmp_path / "truncated.glb"
    files["truncated glb"].write_bytes(glb.read_bytes()[: glb.stat().st_size // 2])
    files["png renamed obj"] = tmp_path / "picture.obj"
    Image.new("RGB", (16, 16), "red").save(files["png renamed obj"], format="PNG")
    files["text"] = tmp_path / "notes.txt"
    files["text"].write_text("remember to buy milk\n")
    files["random bytes"] = tmp_path / "noise.ply"
    files["random bytes"].write_bytes(os.urandom(4096))
    files["missing"] = tmp_path / "nowhere.obj"
    files["directory"] = tmp_path
    files["unreadable format"] = tmp_path / "model.fbx"
    files["unreadable format"].write_bytes(b"Kaydara FBX Binary  \x00\x1a\x00" + os.urandom(200))
    return files


def test_bad_input_exits_2_with_one_sentence_and_no_job_in_history(tmp_path):
    for label, path in _bad_inputs(tmp_path).items():
        proc = cli("run", "uv_unwrapping", str(path))
        assert proc.returncode == 2, (label, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, (label, proc.stderr)
        assert lines[0].startswith("meshsmith: ") and lines[0].endswith("."), (label, lines)
    assert history() == []


def test_bad_usage_exits_2_without_a_traceback(box_obj):
    for args in (["run"], ["run", "no_such_feature", str(box_obj)],
                 ["run", "uv_unwrapping", str(box_obj), "--param", "oops"],
                 ["run", "uv_unwrapping", str(box_obj), "--param", "resolution=-5"],
                 ["run", "uv_unwrapping", str(box_obj), "--adapter", "nope"]):
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.strip(), args
    assert history() == []


def test_adapters_json_lists_specs_with_parameter_schemas():
    proc = cli("adapters", "--json")
    assert proc.returncode == 0
    specs = {s["id"]: s for s in json.loads(proc.stdout)}
    assert specs["xatlas"]["feature"] == "uv_unwrapping"
    assert "target_faces" in specs["decimate"]["params_schema"]["properties"]
    assert "torch" not in proc.stderr
