"""The hostile-input corpus of issue 15: each case is built by the test (tests.engine.
hostile_corpus), staged in a subprocess of its own, and held to its sentence and to a memory
ceiling measured there with resource.getrusage. Figures: docs/reliability.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from engine.contract.protocol import AdapterOutput
from engine.contract.spec import Registry
from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import JobSpec
from engine.meshio.instances import bake_instances
from engine.runtime.engine import Engine
from engine.runtime.time_limit import MAX_SCALE, REFERENCE_BYTES, job_time_limit
from engine.workers.results import build_outputs
from tests.conftest import ROOT
from tests.engine import hostile_corpus
from tests.engine.fake_adapters import sleepy_spec


def probe(path: Path, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.engine.hostile_probe", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_200k_node_glb_is_refused_before_trimesh_builds_its_scene(tmp_path):
    seen = probe(hostile_corpus.many_node_glb(tmp_path))
    assert seen["sentence"] == ("many_nodes.glb has 200,000 scene nodes, more than the 20,000 "
                                "Meshsmith accepts; merge its parts into fewer objects first.")
    assert seen["peak_mb"] - seen["imports_mb"] < 250, seen  # its JSON, parsed once


@pytest.mark.slow
def test_a_5m_face_obj_on_one_point_has_no_surface(tmp_path):
    seen = probe(hostile_corpus.one_point_obj(tmp_path))
    assert seen["sentence"] == ("one_point.obj has no surface to work with: all its 5,000,000 "
                                "triangles have zero area (they sit on 1 point).")
    assert seen["peak_mb"] < 1500, seen  # trimesh's OBJ parse; decimating it once took 2.5 GB


def test_a_jpeg_that_declares_8000_squared_but_holds_a_few_rows_is_truncated(tmp_path):
    seen = probe(hostile_corpus.hollow_jpeg(tmp_path))
    assert seen["sentence"] == "hollow.jpg is truncated: it ends before its pixel data does."
    assert seen["peak_mb"] - seen["imports_mb"] < 50, seen  # never decoded (it took 800 MB)


def test_a_mesh_that_would_not_fit_in_memory_is_refused_before_loading(tmp_path):
    seen = probe(hostile_corpus.many_face_obj(tmp_path),
                 MESHSMITH_MEMORY_BYTES=str(100 * 1024**2))
    assert seen["sentence"] == (
        "many_faces.obj would need about 152 MB of memory to read, more than the 100 MB this "
        "machine has free; use a smaller file or close other programs.")
    assert seen["peak_mb"] - seen["imports_mb"] < 50, seen


def test_a_big_data_uri_is_streamed_and_counts_against_the_memory_budget(tmp_path):
    path = hostile_corpus.embedded_gltf(tmp_path)
    decoded_mb = 30_000_000 / 2**20 + 0.1  # the padding and a small sphere
    staged = probe(path)
    assert staged["sentence"] is None
    # decoded once, in chunks, into one buffer: it took about 5 times the decoded size
    assert staged["peak_mb"] - staged["imports_mb"] < 2 * decoded_mb, staged
    refused = probe(path, MESHSMITH_MEMORY_BYTES=str(50 * 1024**2))
    assert refused["sentence"].startswith("embedded.gltf would need about 58 MB of memory")


def test_instances_are_baked_in_one_pass_with_mirrored_winding_kept_outward():
    box = trimesh.creation.box()
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    moved = trimesh.transformations.translation_matrix([5.0, 0.0, 0.0])
    baked = bake_instances([(np.eye(4), box), (moved @ mirror, box)])
    assert len(baked.faces) == 2 * len(box.faces)
    assert baked.volume == pytest.approx(2 * box.volume)  # a flipped copy would cancel out


def test_a_result_with_no_surface_is_a_failure_not_a_success(tmp_path):
    flat = trimesh.Trimesh(vertices=[[0, 0, 0], [1, 1, 1], [2, 2, 2]],
                           faces=[[0, 1, 2]] * 1000, process=False)
    with pytest.raises(MeshsmithError) as caught:
        build_outputs(AdapterOutput(mesh=flat), tmp_path / "out")
    assert caught.value.code is ErrorCode.OUTPUT_INVALID
    assert caught.value.message == ("The result has no surface: all its 1,000 triangles have "
                                    "zero area (they sit on 3 points), so it was not kept.")
    assert not (tmp_path / "out").exists()


def test_a_job_time_limit_grows_with_input_size_and_the_artist_can_set_it(tmp_path):
    small, large = tmp_path / "small.bin", tmp_path / "large.bin"
    small.write_bytes(b"x")
    with open(large, "wb") as out:
        out.truncate(3 * REFERENCE_BYTES)
    assert job_time_limit(60, JobSpec(feature="f", adapter="a", inputs=[str(small)])) == 60
    assert job_time_limit(60, JobSpec(feature="f", adapter="a", inputs=[str(large)])) == 180
    assert job_time_limit(60, JobSpec(feature="f", adapter="a", inputs=[str(large)] * 9)) == (
        60 * MAX_SCALE)
    assert job_time_limit(60, JobSpec(feature="f", adapter="a", inputs=[str(large)],
                                      timeout_s=5)) == 5


def test_the_artists_time_limit_stops_a_job_with_one_sentence(data_dir, box_obj):
    with Engine(data_dir, registry=Registry([sleepy_spec()]), cancel_grace_s=1.0) as engine:
        job_id = engine.submit("mesh_segmentation", [engine.stage(box_obj)],
                               params={"steps": 400, "step_s": 0.05}, timeout_s=1.5)
        result = engine.wait(job_id, 60)
    assert result.status == "failed"
    assert result.error.model_dump() == {
        "code": "TIMEOUT", "message": "Fake sleepy took longer than its 1.5 s limit, so it was stopped."}
