"""Pipelines: recipes validated up front, steps chained by job id, grouped in the history; a
failing step stops the rest with its reason; cancel stops the whole pipeline."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time

import pytest
from PIL import Image, ImageDraw

from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import JobSpec, JobState, PipelineTag
from engine.pipelines.recipes import BUILTIN, Recipe, RecipeBook, load_recipe
from engine.pipelines.runner import PipelineEvent, PipelineRunner
from engine.storage.jobstore import JobStore
from tests.support.gltf_validator import assert_valid_glb


def three_steps(**middle: object) -> Recipe:
    return Recipe.model_validate({"name": "Segment, complete, unwrap", "steps": [
        {"feature": "mesh_segmentation", "adapter": "sleepy", "params": {"steps": 2}},
        {"feature": "part_completion", "adapter": "sleepy_parts", "params": middle},
        {"feature": "uv_unwrapping", "adapter": "xatlas"},
    ]})


@pytest.fixture
def runner(engine):
    r = PipelineRunner(engine)
    yield r
    r.close()


def test_three_steps_run_end_to_end_chained_by_job_id_and_grouped(engine, runner, box_obj):
    events: list[PipelineEvent] = []
    runner.subscribe(events.append)
    pipeline_id = runner.start(three_steps(), str(box_obj))
    result = runner.wait(pipeline_id, timeout=180)
    assert result.status == "succeeded" and result.error is None, result.error
    assert len(result.steps) == result.total_steps == 3
    assert result.output_file_path == result.steps[-1].output_file_path
    assert_valid_glb(result.output_file_path)
    # the history groups the steps: one pipeline id, steps 0..2, the recipe's name
    jobs = engine.store.list(pipeline_id=pipeline_id, newest_first=False)
    assert [j.pipeline.step for j in jobs] == [0, 1, 2]
    assert {j.pipeline.name for j in jobs} == {"Segment, complete, unwrap"}
    assert [j.spec.feature for j in jobs] == ["mesh_segmentation", "part_completion",
                                              "uv_unwrapping"]
    # each step's input is the previous step's output, staged by job id
    for before, after in itertools.pairwise(jobs):
        with open(after.spec.inputs[0], "rb") as staged, \
                open(before.result.output_file_path, "rb") as output:
            assert staged.read() == output.read()
    assert [(e.kind, e.step) for e in events] == [("step", 0), ("step", 1), ("step", 2),
                                                  ("finished", 0)]
    assert engine.store.get(jobs[0].job_id).pipeline == PipelineTag(
        id=pipeline_id, step=0, name="Segment, complete, unwrap")


def test_a_failing_middle_step_stops_the_rest_with_its_reason(engine, runner, box_obj):
    pipeline_id = runner.start(three_steps(fail=True), str(box_obj))
    result = runner.wait(pipeline_id, timeout=120)
    assert result.status == "failed" and result.failed_step == 2
    assert result.error.message.startswith("Step 2 of 3 (part_completion) failed: ")
    assert "told to fail" in result.error.message  # the step's own reason
    assert result.output_file_path is None
    jobs = engine.store.list(pipeline_id=pipeline_id, newest_first=False)
    assert [j.state for j in jobs] == [JobState.SUCCEEDED, JobState.FAILED]  # step 3: never


def test_cancel_stops_the_whole_pipeline(engine, runner, box_obj):
    running = threading.Event()
    engine.subscribe(lambda e: running.set() if e.kind == "progress" else None)
    recipe = Recipe.model_validate({"name": "slow", "steps": [
        {"feature": "mesh_segmentation", "adapter": "sleepy",
         "params": {"steps": 400, "step_s": 0.05}},
        {"feature": "uv_unwrapping", "adapter": "xatlas"}]})
    pipeline_id = runner.start(recipe, str(box_obj))
    assert running.wait(60)
    runner.cancel(pipeline_id)
    result = runner.wait(pipeline_id, timeout=60)
    assert result.status == "cancelled" and result.failed_step == 1
    jobs = engine.store.list(pipeline_id=pipeline_id)
    assert [j.state for j in jobs] == [JobState.CANCELLED]


def test_cancel_while_the_next_step_is_being_prepared_submits_nothing(engine, runner, box_obj,
                                                                     monkeypatch):
    """The artist cancels just as step 1 finishes: step 2 must never be queued."""
    original, gate, cancelled = engine.stage, threading.Event(), threading.Event()

    def slow_stage(source):
        if str(source).startswith("job:"):
            gate.set()
            assert cancelled.wait(30)
        return original(source)

    monkeypatch.setattr(engine, "stage", slow_stage)
    pipeline_id = runner.start(three_steps(), str(box_obj))
    assert gate.wait(60)
    runner.cancel(pipeline_id)
    cancelled.set()
    result = runner.wait(pipeline_id, timeout=30)
    assert result.status == "cancelled" and "after step 1 of 3" in result.error.message
    assert len(engine.store.list(pipeline_id=pipeline_id)) == 1


def test_a_recipe_that_cannot_finish_is_refused_before_anything_runs(engine, runner, box_obj,
                                                                    tmp_path):
    bad_params = three_steps(steps=0)
    with pytest.raises(MeshsmithError, match=r"Step 2 of .* \(part_completion\): Parameter"):
        runner.start(bad_params, str(box_obj))
    picture = tmp_path / "pic.png"
    Image.new("RGB", (64, 64), "white").save(picture)
    with pytest.raises(MeshsmithError, match="takes a mesh, but would be given an image") as c:
        runner.start(three_steps(), str(picture))
    assert c.value.code is ErrorCode.INVALID_INPUT
    assert engine.store.list() == []


def test_recipe_files_are_validated_strictly(data_dir, tmp_path):
    book = RecipeBook(data_dir)
    assert [rid for rid, _ in book.all()] == list(BUILTIN)
    path = book.save(three_steps())
    assert path == data_dir.recipes / "segment-complete-unwrap.json"
    assert book.find("segment, complete, UNWRAP")[1] == three_steps()
    assert book.find(str(path))[0] == "segment-complete-unwrap"
    (data_dir.recipes / "typo.json").write_text(json.dumps(
        {"name": "x", "steps": [{"feature": "uv_unwrapping", "adaptor": "xatlas"}]}))
    (data_dir.recipes / "later.json").write_text(json.dumps(
        {"name": "y", "steps": [{"feature": "uv_unwrapping", "inputs": ["step:1"]}]}))
    (data_dir.recipes / "broken.json").write_text("{")
    ids = [rid for rid, _ in book.all()]
    assert "segment-complete-unwrap" in ids and "typo" not in ids
    assert len(book.problems) == 3
    with pytest.raises(MeshsmithError, match="adaptor: Extra inputs are not permitted"):
        load_recipe(data_dir.recipes / "typo.json")
    with pytest.raises(MeshsmithError, match="not an earlier step"):
        load_recipe(data_dir.recipes / "later.json")
    with pytest.raises(MeshsmithError, match="There is no recipe 'nothing'"):
        book.find("nothing")
    with pytest.raises(MeshsmithError, match="built-in"):
        book.save(three_steps(), "clean-up-scan")


def test_an_older_history_file_gains_the_pipeline_columns(data_dir):
    db = sqlite3.connect(data_dir.db)
    db.executescript("""
        CREATE TABLE jobs (job_id TEXT PRIMARY KEY, feature TEXT NOT NULL, adapter TEXT NOT NULL,
            spec TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL,
            finished_at REAL, attempts INTEGER NOT NULL DEFAULT 0, result TEXT, error TEXT);
    """)
    spec = JobSpec(feature="uv_unwrapping", adapter="xatlas", inputs=["a.obj"])
    db.execute("INSERT INTO jobs (job_id, feature, adapter, spec, state, created_at) "
               "VALUES ('old1', 'uv_unwrapping', 'xatlas', ?, 'queued', ?)",
               (spec.model_dump_json(), time.time()))
    db.commit()
    db.close()
    store = JobStore(data_dir.db)
    try:
        assert store.get("old1").pipeline is None
        tag = PipelineTag(id="p1", step=1, name="Clean up a scan")
        store.add("new1", spec, pipeline=tag)
        assert store.get("new1").pipeline == tag
        assert [j.job_id for j in store.list(pipeline_id="p1")] == ["new1"]
    finally:
        store.close()
    JobStore(data_dir.db).close()  # opening again migrates nothing twice


@pytest.mark.slow
def test_the_built_in_image_recipe_makes_a_painted_asset(engine, runner, tmp_path):
    picture = tmp_path / "blob.png"
    image = Image.new("RGB", (160, 160), "white")
    ImageDraw.Draw(image).ellipse((30, 20, 130, 140), fill=(200, 60, 40))
    image.save(picture)
    pipeline_id = runner.start("Image to game-ready asset", str(picture))
    result = runner.wait(pipeline_id, timeout=600)
    assert result.status == "succeeded", result.error
    assert [s.feature for s in result.steps] == ["image_to_textured_mesh", "mesh_retopology",
                                                 "uv_unwrapping", "image_mesh_painting"]
    painting = engine.store.get(result.steps[-1].job_id)
    assert len(painting.spec.inputs) == 2  # the mesh and the original picture
    assert painting.spec.inputs[1] == engine.store.get(result.steps[0].job_id).spec.inputs[0]
    assert_valid_glb(result.output_file_path)
