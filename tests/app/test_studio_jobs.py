"""The studio as an artist watching jobs sees it, at 1920x1080 with fresh settings: three long
jobs and one that fails (auto-rig on a flat plane), all in the real window on a real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from app.bridge import EngineBridge
from app.viewmodels.jobs_viewmodel import sentence
from app.views.jobs_view import FAILED_COLOUR, JobCard
from app.views.main_window import MainWindow
from engine.jobs import JobState
from tests.app.create_support import choose

pytestmark = pytest.mark.slow
LONG = {"steps": 4000, "step_s": 0.05}  # minutes: still running when the test looks


@pytest.fixture
def engine(data_dir, test_registry):
    """Two CPU slots whatever the machine has: with three long jobs one must wait."""
    from engine.runtime.engine import Engine

    eng = Engine(data_dir, registry=test_registry, cpu_slots=2, cancel_grace_s=1.0).start()
    try:
        yield eng
    finally:
        eng.shutdown()


@pytest.fixture
def studio(qtbot, engine, tmp_path, monkeypatch):
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qs"))
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: None)
    win = MainWindow(EngineBridge(engine))
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()  # shortcuts only reach the active window
    qtbot.waitActive(win)
    yield win
    win.jobs_vm.cancel_all()
    win.release()


@pytest.fixture
def plane_obj(tmp_path: Path) -> Path:
    path = tmp_path / "plane.obj"
    trimesh.Trimesh(vertices=[[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]],
                    faces=[[0, 1, 2], [0, 2, 3]]).export(path)
    return path


def submit(engine, feature: str, adapter: str, source: Path, **params) -> str:
    return engine.submit(feature, [engine.stage(str(source))], adapter=adapter, params=params)


def card(window: MainWindow, job_id: str) -> JobCard:
    found = window.jobs_view.card(job_id)
    assert found is not None, f"no card for {job_id}"
    return found


def shows_whole_text(label) -> bool:
    """Visible, and tall enough for every wrapped line of its text: nothing cut or elided."""
    return (label.isVisible() and bool(label.text())
            and label.heightForWidth(label.width()) <= label.height())


def test_three_long_jobs_and_a_failed_rig_are_all_readable_at_a_glance(
        qtbot, studio, engine, box_obj, plane_obj):
    screen = studio.screen().availableGeometry()
    assert (screen.width(), screen.height()) == (1920, 1080)
    # the failing one first: with two slots it runs beside one long job, then leaves its slot
    failing = submit(engine, "auto_rig", "skeleton_rig", plane_obj)
    long_jobs = [submit(engine, "mesh_segmentation", "sleepy", box_obj, **LONG)
                 for _ in range(3)]

    # the failure: its reason on the card, in red, without hovering; and a notice says it too
    qtbot.waitUntil(lambda: engine.get(failing).state is JobState.FAILED, timeout=120_000)
    reason = engine.get(failing).error.message
    assert "flat" in reason
    qtbot.waitUntil(lambda: card(studio, failing).status.text() == reason, timeout=10_000)
    failed = card(studio, failing)
    assert shows_whole_text(failed.status)
    assert FAILED_COLOUR in failed.status.styleSheet()
    assert all(failed.buttons[key].isVisible() for key in ("retry", "open", "log"))
    notices = studio.notices.notices()
    assert any(reason in n.label.text() and n.isVisible() for n in notices)

    # the running job: a visible bar with its percent; the waiting ones: their whole cause
    qtbot.waitUntil(lambda: any(engine.get(j).state is JobState.RUNNING for j in long_jobs),
                    timeout=120_000)
    running = next(j for j in long_jobs if engine.get(j).state is JobState.RUNNING)
    qtbot.waitUntil(lambda: card(studio, running).progress.value() > 0, timeout=60_000)
    bar = card(studio, running).progress
    assert bar.isVisible() and bar.text().split(" ")[0].endswith("%")
    waiting = long_jobs[-1]  # two slots, first in first out: the last one waits throughout
    assert engine.get(waiting).state is JobState.QUEUED

    def whole_cause_shown() -> bool:  # the engine's cause, whole, with names instead of ids
        cause = (engine.causes.get(waiting) or "").replace(" sleepy job", " Fake sleepy job")
        return bool(cause) and card(studio, waiting).status.text() == sentence(cause)

    qtbot.waitUntil(whole_cause_shown, timeout=30_000)
    assert "sleepy job" not in card(studio, waiting).status.text() or \
        "Fake sleepy job" in card(studio, waiting).status.text()
    assert shows_whole_text(card(studio, waiting).status)
    assert card(studio, waiting).progress.isVisible()  # always there, at 0% while it waits

    # every card is told apart: feature's display name, input name, settings
    assert card(studio, running).title.text() == "Segment parts · box.obj"
    assert "steps 4,000" in card(studio, running).detail.text()

    # no horizontal scrolling in Jobs at the default size, and nothing wider than the panel
    scroll = studio.jobs_view.scroll
    assert not scroll.horizontalScrollBar().isVisible()
    width = scroll.viewport().width()
    assert all(c.minimumSizeHint().width() <= width for c in studio.jobs_view.cards.values())

    # History has room for at least five rows
    table = studio.history_view.table
    row_height = table.verticalHeader().defaultSectionSize()
    assert table.viewport().height() // row_height >= 5


def test_finished_jobs_stay_until_dismissed_and_selection_follows_the_job(
        qtbot, studio, engine, box_obj):
    first = submit(engine, "mesh_segmentation", "sleepy", box_obj, steps=2, step_s=0.01)
    second = submit(engine, "mesh_segmentation", "sleepy", box_obj, **LONG)
    qtbot.waitUntil(lambda: studio.jobs_view.card(second) is not None, timeout=30_000)
    studio.jobs_view.select(second)
    qtbot.waitUntil(lambda: engine.get(first).state is JobState.SUCCEEDED, timeout=120_000)
    qtbot.waitUntil(lambda: card(studio, first).status.text().startswith("Finished"),
                    timeout=10_000)
    assert card(studio, first).progress.value() == 1000  # still listed, at 100%
    assert card(studio, first).buttons["dismiss"].isVisible()
    card(studio, first).buttons["dismiss"].click()
    assert studio.jobs_view.card(first) is None
    assert studio.jobs_view.selected_job_id == second  # not the row that moved up
    # cancelling shows at once, before the worker confirms
    card(studio, second).buttons["cancel"].click()
    assert card(studio, second).status.text() == "Cancelling…"
    qtbot.waitUntil(lambda: engine.get(second).state is JobState.CANCELLED, timeout=60_000)
    qtbot.waitUntil(lambda: card(studio, second).status.text() == "Cancelled.", timeout=10_000)


def run_in_window(qtbot, studio, source: Path, feature: str = "mesh_segmentation",
                  adapter: str = "sleepy", **params) -> str:
    """Run on ``source`` from the Create panel's button; the input is staged only (a drop
    would also show it in the viewport)."""
    vm = studio.create_vm
    choose(qtbot, vm, feature, adapter, source, **params)
    with qtbot.waitSignal(vm.job_submitted, timeout=30_000) as submitted:
        studio.create_view.run_button.click()
    return submitted.args[0]


def test_a_finished_job_raises_a_notice_and_leaves_the_viewport_alone(
        qtbot, studio, engine, box_obj, sphere_ply):
    with qtbot.waitSignal(studio.scene_shown, timeout=60_000):
        studio.open_in_viewport(str(sphere_ply))  # the artist is looking at something
    with qtbot.waitSignal(studio.jobs_vm.job_succeeded, timeout=120_000) as done:
        run_in_window(qtbot, studio, box_obj, steps=2, step_s=0.01)
    job = done.args[0]
    assert Path(job.result.output_file_path).name == "box_parts.glb"
    notice = next(n for n in studio.notices.notices() if "box.obj" in n.label.text())
    assert notice.label.text().startswith("Segment parts of box.obj finished")
    qtbot.wait(300)
    assert studio.viewport_vm.scene.path == str(sphere_ply)  # not taken over
    with qtbot.waitSignal(studio.scene_shown, timeout=60_000):
        notice.buttons["Compare"].click()  # asked: now it changes, in the feature's mode
    qtbot.waitUntil(lambda: studio.viewport_vm.after is not None
                    and studio.viewport_vm.after.path == job.result.output_file_path,
                    timeout=30_000)
    assert studio.viewport_vm.mode.value == "parts"


def test_only_a_job_from_this_window_fills_an_empty_viewport(qtbot, studio, engine, box_obj):
    with qtbot.waitSignal(studio.jobs_vm.job_succeeded, timeout=120_000):
        # sent by a script (CLI or HTTP API): the empty viewport stays empty
        submit(engine, "mesh_segmentation", "sleepy", box_obj, steps=2, step_s=0.01)
    qtbot.wait(300)
    assert studio.viewport_vm.scene is None and not studio.viewport_vm.is_loading
    with qtbot.waitSignal(studio.scene_shown, timeout=120_000):
        run_in_window(qtbot, studio, box_obj, steps=2, step_s=0.01)
    assert studio.viewport_vm.after is not None and studio.viewport_vm.mode.value == "parts"


def test_a_run_that_fails_says_why_in_a_notice_and_opens_nothing(
        qtbot, studio, engine, plane_obj, monkeypatch):
    dialogs = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: dialogs.append(args))
    job_id = run_in_window(qtbot, studio, plane_obj, "auto_rig", "skeleton_rig")
    qtbot.waitUntil(lambda: engine.get(job_id).state is JobState.FAILED, timeout=120_000)
    reason = engine.get(job_id).error.message
    qtbot.waitUntil(lambda: any(reason in n.label.text() for n in studio.notices.notices()),
                    timeout=10_000)
    notice = next(n for n in studio.notices.notices() if reason in n.label.text())
    assert notice.label.text().startswith("Auto-rig of plane.obj failed")
    assert studio.viewport_vm.scene is None and not studio.viewport_vm.is_loading
    assert dialogs == []  # the notice is the one sentence: no dialog besides


def test_a_retry_from_this_window_fills_an_empty_viewport(qtbot, studio, engine, box_obj):
    first = submit(engine, "mesh_segmentation", "sleepy", box_obj, steps=2, step_s=0.01)
    qtbot.waitUntil(lambda: studio.jobs_view.card(first) is not None
                    and card(studio, first).status.text().startswith("Finished"),
                    timeout=120_000)
    assert studio.viewport_vm.scene is None  # a script's job: the viewport stayed empty
    with qtbot.waitSignal(studio.scene_shown, timeout=120_000):
        studio.jobs_view.retry_requested.emit(first)  # the card's Retry
    assert studio.viewport_vm.after.path != engine.get(first).result.output_file_path


def test_f1_lists_the_shortcuts(qtbot, studio, monkeypatch):
    from app.views.shortcut_sheet import ShortcutSheet

    shown = []
    monkeypatch.setattr(ShortcutSheet, "exec", lambda sheet: shown.append(sheet.rows))
    qtbot.keyClick(studio, Qt.Key.Key_F1)
    (rows,) = shown
    assert ("Frame", "F") in rows and any(keys == "Ctrl+O" for _, keys in rows)
    assert any("Orbit" in what for what, _ in rows)


def test_the_create_panel_shows_the_real_feature_and_a_failed_open_clears_the_input(
        qtbot, studio, box_obj, tmp_path):
    view, vm = studio.create_view, studio.create_vm
    assert view.feature.currentData() == vm.feature
    assert view.adapter.currentData() == vm.adapter.id and vm.adapter.feature == vm.feature
    assert not view.run_button.isEnabled() and view.reason.text().startswith("Drop ")
    vm.set_feature("uv_unwrapping")
    with qtbot.waitSignal(vm.input_changed, timeout=30_000):
        vm.set_input_source(str(box_obj))
    assert view.run_button.isEnabled()
    broken = tmp_path / "broken.obj"
    broken.write_text("this is no mesh\n")
    with qtbot.waitSignal(vm.error_raised, timeout=30_000):
        vm.set_input_source(str(broken))
    assert vm.inputs == {} and vm.run() is None  # never the previous box
    assert not view.run_button.isEnabled() and view.reason.text() == "Drop a mesh to start."
    assert not view.scroll.horizontalScrollBar().isVisible()


def test_an_old_saved_layout_cannot_replace_the_new_default(qtbot, engine, tmp_path,
                                                            monkeypatch):
    from app.views import window_layout

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "q"))
    first = MainWindow(EngineBridge(engine))
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.docks["Jobs"].hide()  # the artist's own layout, saved by an older version
    QSettings().setValue("window/state", first.saveState(window_layout.LAYOUT_VERSION - 1))
    first.release()
    second = MainWindow(EngineBridge(engine))
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    assert second.docks["Jobs"].isVisible()  # the v1 state was not applied
    area = second.screen().availableGeometry()
    assert second.width() >= 0.85 * area.width() and second.height() >= 0.85 * area.height()
    second.release()


def test_a_result_with_warnings_shows_them_on_its_card_and_notice(qtbot, studio, engine,
                                                                  box_obj):
    warning = "The texture was dropped: the input had no UVs."
    job_id = submit(engine, "mesh_segmentation", "sleepy", box_obj, steps=2, step_s=0.01,
                    warn=warning)
    qtbot.waitUntil(lambda: studio.jobs_view.card(job_id) is not None
                    and card(studio, job_id).warnings.isVisible(), timeout=120_000)
    assert warning in card(studio, job_id).warnings.text()
    assert any(warning in n.label.text() for n in studio.notices.notices())
