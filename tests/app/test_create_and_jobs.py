"""Create and Jobs: view models driven by a real engine, then the widgets on top of them."""

from __future__ import annotations

import pytest
from PIL import Image

from app.bridge import EngineBridge
from app.viewmodels.create_viewmodel import CreateViewModel
from app.viewmodels.jobs_viewmodel import JobsViewModel, format_duration
from engine.jobs import JobState

pytestmark = pytest.mark.slow


@pytest.fixture
def bridge(engine, qapp) -> EngineBridge:
    return EngineBridge(engine)


@pytest.fixture
def create_vm(bridge) -> CreateViewModel:
    vm = CreateViewModel(bridge)
    vm.set_feature("mesh_segmentation")
    vm.set_adapter("sleepy")
    return vm


def stage(qtbot, vm: CreateViewModel, source: str) -> None:
    with qtbot.waitSignal(vm.input_changed, timeout=30_000):
        vm.set_input_source(source)


def test_run_is_disabled_with_a_reason_until_an_input_is_staged(qtbot, create_vm, box_obj):
    assert create_vm.run_disabled_reason() == "Drop a mesh to start."
    assert create_vm.run() is None
    with qtbot.waitSignal(create_vm.can_run_changed, timeout=30_000,
                          check_params_cb=lambda ok, reason: ok):
        create_vm.set_input_source(str(box_obj))
    assert create_vm.staged.faces == 12 and create_vm.input_thumbnail.exists()


def test_staging_happens_off_the_gui_thread(qtbot, create_vm, box_obj, monkeypatch):
    import threading

    threads = []
    original = create_vm.bridge.engine.stage

    def spy(source):
        threads.append(threading.current_thread())
        return original(source)

    monkeypatch.setattr(create_vm.bridge.engine, "stage", spy)
    stage(qtbot, create_vm, str(box_obj))
    assert threads and threads[0] is not threading.main_thread()


def test_a_bad_input_gives_one_sentence_and_keeps_run_disabled(qtbot, create_vm, tmp_path):
    bad = tmp_path / "notes.obj"
    bad.write_text("not a mesh at all\n")
    with qtbot.waitSignal(create_vm.error_raised, timeout=30_000) as signal:
        create_vm.set_input_source(str(bad))
    assert signal.args[0].startswith("notes.obj") and signal.args[0].endswith(".")
    assert create_vm.run_disabled_reason() == "Drop a mesh to start."


def test_an_image_for_a_mesh_only_studio_explains_why_run_is_disabled(qtbot, bridge, tmp_path):
    from engine.contract.spec import Registry
    from tests.engine.fake_adapters import sleepy_spec

    bridge.engine.registry = Registry([sleepy_spec()])  # no feature takes an image
    vm = CreateViewModel(bridge)
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "photo.png")
    stage(qtbot, vm, str(tmp_path / "photo.png"))
    assert vm.run_disabled_reason() == "Segment parts needs a mesh, not an image."


def test_dropping_an_image_on_a_mesh_feature_switches_to_an_image_feature(qtbot, create_vm,
                                                                           tmp_path):
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "photo.png")
    stage(qtbot, create_vm, str(tmp_path / "photo.png"))
    assert "image" in create_vm.adapter.inputs


def test_invalid_parameter_disables_run_with_the_validation_sentence(qtbot, create_vm, box_obj):
    stage(qtbot, create_vm, str(box_obj))
    create_vm.set_param("steps", 0)
    assert "steps" in create_vm.run_disabled_reason()
    create_vm.set_param("steps", 3)
    assert create_vm.run_disabled_reason() == ""


def test_running_a_job_streams_progress_into_the_jobs_model_then_reports_success(
        qtbot, bridge, create_vm, box_obj):
    jobs = JobsViewModel(bridge)
    stage(qtbot, create_vm, str(box_obj))
    create_vm.set_param("steps", 5)
    progress, states = [], []
    bridge.job_progress.connect(lambda job_id, stage, fraction: progress.append(fraction))
    bridge.job_updated.connect(lambda job: states.append(job.state))
    with qtbot.waitSignal(jobs.job_succeeded, timeout=60_000) as done:
        with qtbot.waitSignal(create_vm.job_submitted, timeout=30_000) as submitted:
            create_vm.run()
        job_id = submitted.args[0]
        qtbot.waitUntil(lambda: jobs.model.find(job_id) == 0)  # listed as the engine takes it
    assert done.args[0].job_id == job_id and done.args[0].state is JobState.SUCCEEDED
    qtbot.waitUntil(lambda: len(states) == 3)
    assert states == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert [r.job.state for r in jobs.model.rows] == [JobState.SUCCEEDED]  # stays, finished
    jobs.dismiss_finished()
    assert jobs.model.rows == []


def test_cancel_from_the_jobs_panel_cancels_the_running_job(qtbot, bridge, create_vm, box_obj):
    from app.views.jobs_view import JobsView

    jobs = JobsViewModel(bridge)
    view = JobsView(jobs)
    qtbot.addWidget(view)
    stage(qtbot, create_vm, str(box_obj))
    create_vm.set_param("steps", 500)
    with qtbot.waitSignal(create_vm.job_submitted, timeout=30_000) as submitted:
        create_vm.run()
    job_id = submitted.args[0]
    qtbot.waitUntil(lambda: bool(jobs.model.rows) and jobs.model.rows[0].fraction > 0, timeout=30_000)
    cancelled = []
    bridge.job_updated.connect(lambda job: cancelled.append(job.state))
    view.card(job_id).buttons["cancel"].click()
    qtbot.waitUntil(lambda: JobState.CANCELLED in cancelled, timeout=20_000)
    assert bridge.engine.get(job_id).state is JobState.CANCELLED
    qtbot.waitUntil(lambda: view.card(job_id).status.text() == "Cancelled.", timeout=5_000)
    assert not view.card(job_id).buttons["cancel"].isVisible()


def test_batch_submits_one_job_per_file(qtbot, bridge, create_vm, box_obj, sphere_ply):
    submitted = []
    create_vm.job_submitted.connect(submitted.append)
    create_vm.set_param("steps", 1)
    create_vm.run_batch([str(box_obj), str(sphere_ply)])
    qtbot.waitUntil(lambda: len(submitted) == 2, timeout=30_000)
    for job_id in submitted:
        assert bridge.engine.wait(job_id, 60).status == "succeeded"


def test_durations_read_like_a_clock():
    assert [format_duration(s) for s in (None, 4.4, 75, 3725)] == ["–", "4 s", "1:15", "1:02:05"]


def test_painting_takes_a_mesh_and_an_image_before_it_can_run(qtbot, create_vm, box_obj, tmp_path):
    create_vm.set_feature("image_mesh_painting")
    assert create_vm.run_disabled_reason() == "Drop a mesh and an image to start."
    stage(qtbot, create_vm, str(box_obj))
    assert create_vm.feature == "image_mesh_painting"  # a mesh is one of its inputs: no switch
    assert create_vm.run_disabled_reason() == "Drop an image to start."
    Image.new("RGB", (32, 32), "red").save(tmp_path / "paint.png")
    stage(qtbot, create_vm, str(tmp_path / "paint.png"))
    assert create_vm.run_disabled_reason() == ""
    assert [i.kind for i in create_vm._order().inputs] == ["mesh", "image"]


def test_a_burst_of_progress_redraws_the_jobs_list_once(qtbot):
    # every redraw recomposes the whole window (the viewport is a GL widget): ~10 ms of CPU
    # on a software renderer, so 4 jobs × 50 reports a second must not mean 200 redraws
    from types import SimpleNamespace

    from app.viewmodels.jobs_viewmodel import PROGRESS_REPAINT_MS, ActiveJob, JobListModel

    model = JobListModel()
    model.rows.append(ActiveJob(SimpleNamespace(job_id="j1")))
    redraws = []
    model.dataChanged.connect(lambda *args: redraws.append(args))
    for i in range(100):
        model.update("j1", fraction=i / 100)
    assert model.rows[0].fraction == 0.99 and redraws == []  # the row itself is current at once
    qtbot.waitUntil(lambda: len(redraws) == 1, timeout=2_000)
    qtbot.wait(2 * PROGRESS_REPAINT_MS)
    assert len(redraws) == 1


def test_a_card_shows_the_engines_eta_and_counts_it_down_but_never_guesses_one(qtbot):
    import time as _time

    from app.viewmodels.jobs_viewmodel import JobListModel
    from engine.jobs import Job, JobSpec

    model = JobListModel()
    spec = JobSpec(feature="mesh_retopology", adapter="instant_meshes",
                   inputs=["/data/inputs/ab/wuson.glb"], params={"target_faces": 5000})
    model.upsert(Job(job_id="j1", spec=spec, created_at=_time.time(), state=JobState.RUNNING))
    row = model.rows[0]
    assert row.title == "Retopologize · wuson.glb" and "target faces 5,000" in row.detail
    model.update("j1", stage="remeshing", fraction=0.5)
    now = _time.monotonic()
    assert "left" not in row.progress_text(now)  # no estimate from the engine: none shown
    model.update("j1", eta_s=75.0, eta_mono=now)
    assert row.progress_text(now).startswith("50% · remeshing · ")
    assert row.progress_text(now).endswith("about 1:15 left")
    assert row.progress_text(now + 10).endswith("about 1:05 left")


def test_a_finished_card_offers_compare_only_when_the_input_was_a_mesh(qtbot):
    import time as _time

    from app.viewmodels.jobs_viewmodel import ActiveJob
    from app.views.jobs_view import JobCard
    from engine.jobs import Job, JobSpec

    def card_for(feature: str, source: str) -> JobCard:
        spec = JobSpec(feature=feature, adapter="inflate", inputs=[source] if source else [])
        job = Job(job_id="j", spec=spec, created_at=_time.time(), state=JobState.SUCCEEDED)
        card = JobCard("j")
        qtbot.addWidget(card)
        card.show()
        card.show_row(ActiveJob(job, title="t", detail="d"), _time.monotonic())
        return card

    from_mesh = card_for("mesh_retopology", "/data/inputs/ab/wuson.glb")
    from_picture = card_for("image_to_raw_mesh", "/data/inputs/cd/cat.png")
    from_prompt = card_for("text_to_raw_mesh", "")
    assert from_mesh.buttons["compare"].isVisible() and from_mesh.buttons["open"].isVisible()
    for card in (from_picture, from_prompt):
        assert not card.buttons["compare"].isVisible() and card.buttons["open"].isVisible()


def test_a_narrow_cards_progress_keeps_its_percentage_and_time_and_loses_the_middle(qtbot):
    # a 1366 x 768 screen's Jobs panel: the centred text ran off both ends of the bar, the
    # percentage under the chunk and the elapsed time cut
    from app.views.jobs_view import JobProgressBar

    bar = JobProgressBar(textVisible=True)
    bar.setRange(0, 1000)
    qtbot.addWidget(bar)
    text = "10% · cutting charts and packing the atlas · 0:33 elapsed · about 4:10 left"
    bar.set_progress(100, text)
    bar.resize(900, 24)
    assert bar.text() == text and bar.toolTip() == text
    bar.resize(260, 24)
    shown = bar.text()
    assert shown != text and "…" in shown
    assert shown.startswith("10% ·") and shown.endswith("4:10 left")
    assert bar.fontMetrics().horizontalAdvance(shown) <= 260 - 16
    assert bar.toolTip() == text  # the whole of it on hover
