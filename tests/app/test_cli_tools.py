"""``main.py export``, ``pipeline`` and ``recipes`` as a script uses them (no studio running):
real processes, real files, the usual exit codes and one sentence on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.storage.jobstore import JobStore
from tests.app.test_cli import cli, history
from tests.engine.test_export import add_succeeded_job, parts_glb  # noqa: F401 (a fixture)


def test_export_writes_each_format_from_the_history(data_dir, parts_glb, tmp_path):  # noqa: F811
    store = JobStore(data_dir.db)
    add_succeeded_job(store, data_dir, "job1", parts_glb)
    store.close()
    out = tmp_path / "exports"
    proc = cli("export", "job1", "usdz", "--out", str(out), "--scale", "100", "--up", "z",
               "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["path"]) == out / "mesh_segmentation-job1.usdz"
    assert report["faces"] == 332 and "usd-core compliance checker: no errors" in report["checks"]
    proc = cli("export", "job1", "stl", "--out", str(out))
    assert proc.returncode == 0 and proc.stdout.strip() == str(out / "mesh_segmentation-job1.stl")
    assert "merged into one mesh" in proc.stderr  # what the format could not keep


@pytest.mark.parametrize("args", [("export", "nope", "glb"), ("export", "job1", "fbx"),
                                  ("export", "job1", "glb", "--scale", "0"),
                                  ("pipeline", "no-such-recipe", "x.obj")])
def test_bad_export_and_pipeline_requests_exit_2_with_one_sentence(args, box_obj):
    proc = cli(*[str(box_obj) if a == "x.obj" else a for a in args])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_a_recipe_given_the_wrong_kind_of_input_is_refused_at_once(box_obj):
    proc = cli("pipeline", "image-to-game-ready", str(box_obj))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("meshsmith: Step 1 of 'Image to game-ready asset' "
                                   "(image_to_textured_mesh) takes an image, but would be "
                                   "given a mesh.")
    assert history() == []


@pytest.mark.slow
def test_pipeline_runs_a_built_in_recipe_and_groups_its_steps(sphere_ply, tmp_path):
    out = tmp_path / "final"
    proc = cli("pipeline", "Clean up a scan", str(sphere_ply), "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "succeeded" and result["recipe"] == "Clean up a scan"
    assert [s["feature"] for s in result["steps"]] == ["mesh_retopology", "uv_unwrapping"]
    # named after the input and each step: sphere_retopo_<n>k_uv.glb
    assert [p.name for p in out.glob("sphere_retopo_*_uv.glb")]
    entries = [e for e in history() if e["pipeline"]]
    assert sorted(e["pipeline"]["step"] for e in entries) == [0, 1]
    assert {e["pipeline"]["id"] for e in entries} == {result["pipeline_id"]}


def test_recipes_lists_built_ins_and_saved_ones(data_dir):
    (data_dir.recipes).mkdir()
    (data_dir.recipes / "mine.json").write_text(json.dumps(
        {"name": "Mine", "steps": [{"feature": "uv_unwrapping", "adapter": "xatlas"}]}))
    (data_dir.recipes / "broken.json").write_text("[")
    proc = cli("recipes", "--json")
    assert proc.returncode == 0
    ids = [r["id"] for r in json.loads(proc.stdout)]
    assert ids[:4] == ["image-to-game-ready", "clean-up-scan", "split-into-parts",
                       "rig-for-games"] and ids[-1] == "mine"
    assert "broken.json is not valid JSON" in proc.stderr
