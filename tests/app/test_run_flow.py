"""Create's Run as one awaited flow: submit, await the engine's future, show the result while
nothing else is on screen. A real engine and real worker processes; the tests wait on the
flow's own task (``qtbot.waitUntil``), never with sleeps. (A Run that fails, in the window with
its notice: tests/app/test_studio_jobs.py.)"""

from __future__ import annotations

import asyncio

import pytest

from app.bridge import EngineBridge
from app.viewmodels.create_viewmodel import CreateViewModel
from app.viewmodels.viewport_viewmodel import ViewportViewModel
from engine.jobs import JobState
from tests.app.create_support import choose

pytestmark = pytest.mark.slow


@pytest.fixture
def viewport(qtbot) -> ViewportViewModel:
    vm = ViewportViewModel()
    yield vm
    vm.shutdown()


@pytest.fixture
def create_vm(engine, qapp, viewport) -> CreateViewModel:
    return CreateViewModel(EngineBridge(engine), viewport=viewport)


def submitted_job(qtbot, vm: CreateViewModel) -> tuple[asyncio.Task, str]:
    """Press Run; the flow's task and the id of the job it submitted."""
    with qtbot.waitSignal(vm.job_submitted, timeout=30_000) as submitted:
        task = vm.run()
    return task, submitted.args[0]


def test_run_awaits_the_job_and_opens_its_result_in_an_empty_viewport(
        qtbot, create_vm, viewport, engine, box_obj):
    choose(qtbot, create_vm, "uv_unwrapping", "xatlas", box_obj)
    with qtbot.waitSignal(viewport.scene_loaded, timeout=120_000):
        task, job_id = submitted_job(qtbot, create_vm)
        qtbot.waitUntil(task.done, timeout=120_000)
    result = task.result()
    assert result.job_id == job_id and result.status == "succeeded"
    assert engine.get(job_id).state is JobState.SUCCEEDED
    # the mesh it unwrapped beside its result, in the feature's display mode
    assert viewport.after.path == result.output_file_path
    assert viewport.before.path == engine.get(job_id).spec.inputs[0]
    assert viewport.mode.value == "uv_checker"


def test_cancelling_the_run_task_cancels_the_job_and_opens_nothing(
        qtbot, create_vm, viewport, engine, box_obj):
    choose(qtbot, create_vm, "mesh_segmentation", "sleepy", box_obj, steps=500, step_s=0.05)
    task, job_id = submitted_job(qtbot, create_vm)
    qtbot.waitUntil(lambda: engine.get(job_id).state is JobState.RUNNING, timeout=60_000)
    task.cancel()
    qtbot.waitUntil(lambda: engine.get(job_id).state is JobState.CANCELLED, timeout=60_000)
    qtbot.waitUntil(task.done, timeout=10_000)
    assert task.cancelled()
    assert viewport.scene is None and not viewport.is_loading


def test_closing_the_studio_ends_the_run_but_leaves_its_job_to_the_engine(
        qtbot, qapp, qasync_loop, create_vm, engine, box_obj, monkeypatch):
    from app import async_loop

    choose(qtbot, create_vm, "mesh_segmentation", "sleepy", box_obj, steps=500, step_s=0.05)
    task, job_id = submitted_job(qtbot, create_vm)
    cancelled = []
    monkeypatch.setattr(engine, "cancel", cancelled.append)
    async_loop.cancel_left(qasync_loop, qapp, async_loop.CLOSING)  # what app.studio does
    assert task.cancelled() and cancelled == []
    # still the engine's: at shutdown it becomes interrupted, and the next studio resumes it
    assert not engine.get(job_id).state.terminal


def test_the_jobs_own_cancel_ends_the_run_without_opening_anything(
        qtbot, create_vm, viewport, engine, box_obj):
    choose(qtbot, create_vm, "mesh_segmentation", "sleepy", box_obj, steps=500, step_s=0.05)
    task, job_id = submitted_job(qtbot, create_vm)
    qtbot.waitUntil(lambda: engine.get(job_id).state is JobState.RUNNING, timeout=60_000)
    engine.cancel(job_id)  # what the Jobs card's Cancel does, for any job
    qtbot.waitUntil(task.done, timeout=60_000)
    assert task.result().status == "cancelled"
    assert viewport.scene is None and not viewport.is_loading


def test_a_file_opened_while_the_job_runs_stays_on_screen(
        qtbot, create_vm, viewport, engine, box_obj, sphere_ply):
    choose(qtbot, create_vm, "mesh_segmentation", "sleepy", box_obj, steps=100, step_s=0.05)
    task, job_id = submitted_job(qtbot, create_vm)
    with qtbot.waitSignal(viewport.scene_loaded, timeout=60_000):
        viewport.open_file(str(sphere_ply))  # the artist looks at something else meanwhile
    assert not engine.get(job_id).state.terminal  # it was meanwhile: the job still runs
    qtbot.waitUntil(task.done, timeout=120_000)
    assert task.result().status == "succeeded"
    assert viewport.scene.path == str(sphere_ply) and viewport.before is None  # no comparison
    assert not viewport.is_loading
