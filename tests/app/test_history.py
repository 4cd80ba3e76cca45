"""History: the view model over a real store (no widgets), a real engine for re-run, then the
widget on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt, QUrl
from PySide6.QtGui import QPixmap

from app.viewmodels.history_viewmodel import (
    DATE,
    DURATION,
    FAILED_COLOUR,
    FEATURE,
    INPUT,
    STATUS,
    THUMBNAIL,
    HistoryViewModel,
)
from engine.jobs import JobState
from tests.app.history_support import StubBridge, add_job

DECORATION = Qt.ItemDataRole.DecorationRole


@pytest.fixture
def bridge(data_dir, qapp) -> StubBridge:
    stub = StubBridge(data_dir)
    yield stub
    stub.engine.store.close()


@pytest.fixture
def opened() -> list[QUrl]:
    return []


@pytest.fixture
def vm(bridge, opened):
    engine = bridge.engine
    add_job(engine, "uv1", inputs=("chair.obj",), age_s=50)
    add_job(engine, "uv2", state=JobState.FAILED, inputs=("table.glb",),
            error="xatlas failed: the mesh has no faces.", age_s=40)
    add_job(engine, "seg1", feature="mesh_segmentation", adapter="sleepy",
            inputs=("chair.obj",), age_s=30)
    add_job(engine, "seg2", feature="mesh_segmentation", adapter="sleepy",
            state=JobState.CANCELLED, inputs=("lamp.ply",), age_s=20)
    add_job(engine, "run1", feature="mesh_segmentation", adapter="sleepy",
            state=JobState.RUNNING, inputs=("vase.obj",), age_s=10)
    model = HistoryViewModel(bridge, open_url=lambda url: opened.append(url) or True)
    yield model
    model.close()


def shown(vm: HistoryViewModel) -> list[str]:
    proxy = vm.proxy
    return [proxy.index(r, 0).data(Qt.ItemDataRole.UserRole).job_id
            for r in range(proxy.rowCount())]


def test_rows_are_newest_first_with_readable_columns(vm, qtmodeltester, qtbot):
    # qtbot: the studio's asyncio loop, on which the model's pictures are read
    qtmodeltester.check(vm.model)
    assert shown(vm) == ["run1", "seg2", "seg1", "uv2", "uv1"]
    model = vm.model
    last = model.rowCount() - 1
    assert model.index(last, FEATURE).data() == "UV-unwrap"  # the name Create uses
    assert model.index(last, STATUS).data() == "succeeded"
    assert model.index(last, DURATION).data() == "2.5 s"
    assert model.index(0, DURATION).data() == "…"  # still running
    assert len(model.index(last, DATE).data()) == len("2024-01-31 12:00:00")


def test_filter_by_feature_status_text_and_combined(vm):
    vm.set_feature_filter("mesh_segmentation")
    assert shown(vm) == ["run1", "seg2", "seg1"]
    vm.set_feature_filter("")
    vm.set_status_filter("failed")
    assert shown(vm) == ["uv2"]
    vm.set_status_filter("")
    vm.set_text_filter("CHAIR")  # input file names, any case
    assert shown(vm) == ["seg1", "uv1"]
    vm.set_text_filter("no faces")  # the error message
    assert shown(vm) == ["uv2"]
    vm.set_text_filter("sleepy")  # the adapter
    assert shown(vm) == ["run1", "seg2", "seg1"]
    vm.set_text_filter("seg2")  # the job id
    assert shown(vm) == ["seg2"]
    vm.set_text_filter("chair")
    vm.set_feature_filter("mesh_segmentation")
    vm.set_status_filter("succeeded")
    assert shown(vm) == ["seg1"]
    vm.set_status_filter("cancelled")
    assert shown(vm) == []
    vm.set_text_filter("")
    vm.set_feature_filter("")
    vm.set_status_filter("")
    assert len(shown(vm)) == 5


def test_job_updated_inserts_then_updates_exactly_one_row(vm, bridge, qtbot):
    inserted, changed, resets = [], [], []
    vm.model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    vm.model.dataChanged.connect(lambda a, b, _r: changed.append((a.row(), b.row())))
    vm.model.modelReset.connect(lambda: resets.append(1))
    job = add_job(bridge.engine, "new1", state=JobState.QUEUED)
    bridge.job_updated.emit(job)
    assert inserted == [(0, 0)] and vm.model.rowCount() == 6 and shown(vm)[0] == "new1"
    bridge.engine.store.transition("new1", JobState.RUNNING)
    bridge.job_updated.emit(bridge.engine.store.get("new1"))
    assert changed == [(0, 0)] and vm.model.rowCount() == 6
    assert vm.model.index(0, STATUS).data() == "running"
    assert resets == [] and len(inserted) == 1


def test_thumbnails_load_lazily_into_decorations(vm, bridge, qtbot):
    row = shown(vm).index("uv1")
    index = vm.model.index(row, THUMBNAIL)
    assert index.data(DECORATION) is None  # the first ask only queues the read
    qtbot.waitUntil(lambda: isinstance(index.data(DECORATION), QPixmap), timeout=5000)
    pixmap = index.data(DECORATION)
    assert (pixmap.width(), pixmap.height()) == (32, 16)  # scaled to the row, aspect kept
    assert vm.model.index(row, FEATURE).data(DECORATION) is None


def test_a_missing_thumbnail_is_no_decoration_and_is_not_retried(vm, bridge, qtbot):
    job = add_job(bridge.engine, "nothumb", thumbnail=False)
    bridge.job_updated.emit(job)
    index = vm.model.index(0, THUMBNAIL)
    with qtbot.waitSignal(vm.thumbnails.loaded, timeout=5000):
        assert index.data(DECORATION) is None
    assert index.data(DECORATION) is None
    with qtbot.assertNotEmitted(vm.thumbnails.loaded, wait=100):
        assert index.data(DECORATION) is None


def test_a_failed_job_shows_its_inputs_picture(vm, bridge, qtbot):
    from PIL import Image

    job = add_job(bridge.engine, "broke", state=JobState.FAILED, error="It broke.")
    staged = Path(job.spec.inputs[0])
    staged.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (64, 64), (40, 90, 200, 255)).save(staged.with_name("thumbnail.png"))
    bridge.job_updated.emit(job)
    index = vm.model.index(shown(vm).index("broke"), THUMBNAIL)
    assert job.result is not None and not job.result.thumbnail_path
    index.data(DECORATION)  # queues the read of the input's picture
    qtbot.waitUntil(lambda: isinstance(index.data(DECORATION), QPixmap), timeout=5000)
    colour = index.data(DECORATION).toImage().pixelColor(8, 8)
    assert (colour.red(), colour.green(), colour.blue()) == (40, 90, 200)


def test_open_and_use_as_input(vm, qtbot):
    with qtbot.waitSignal(vm.open_requested) as opened:
        vm.open_result("uv1")
    assert opened.args == [str(vm.model.job("uv1").result.output_file_path)]
    assert opened.args[0].endswith(".glb")
    with qtbot.waitSignal(vm.input_chosen) as chosen:
        vm.use_as_input("seg1")
    assert chosen.args == ["job:seg1"]
    with qtbot.waitSignal(vm.error_raised) as error, \
            qtbot.assertNotEmitted(vm.open_requested):
        vm.open_result("uv2")
    assert error.args[0] == "Job uv2 failed, so it has no result to open."
    assert vm.available_actions("uv2") == {"rerun", "delete"}
    assert vm.available_actions("run1") == {"rerun"}


def test_reveal_opens_the_output_folder(vm, opened, data_dir, qtbot):
    vm.reveal("uv1")
    assert [u.toLocalFile() for u in opened] == [str(data_dir.job_output("uv1"))]
    with qtbot.waitSignal(vm.error_raised):
        vm.reveal("uv2")  # failed jobs keep no output folder
    assert len(opened) == 1


def test_export_copies_the_glb(vm, tmp_path, qtbot):
    dest = tmp_path / "exports" / "chair.glb"
    dest.parent.mkdir()
    with qtbot.waitSignal(vm.job_exported, timeout=5000) as done:
        vm.export("uv1", str(dest))
    assert done.args == ["uv1", str(dest)]
    assert dest.read_bytes() == b"glTFuv1"
    with qtbot.waitSignal(vm.job_exported, timeout=5000) as done:
        vm.export("seg1", str(dest.parent))  # a folder: a name is made up
    assert Path(done.args[1]).name == "mesh_segmentation-seg1.glb"
    with qtbot.waitSignal(vm.error_raised, timeout=5000) as error:
        vm.export("uv1", str(tmp_path / "missing" / "x.glb"))
    assert error.args[0].startswith("Job uv1 could not be exported: ")


def test_delete_removes_the_row_and_files_and_refuses_active_jobs(vm, bridge, data_dir, qtbot):
    folder = data_dir.job_output("uv1")
    assert folder.is_dir()
    with qtbot.waitSignal(vm.job_deleted) as deleted:
        vm.delete("uv1")
    assert deleted.args == ["uv1"]
    assert not folder.exists() and bridge.engine.store.get("uv1") is None
    assert "uv1" not in shown(vm) and data_dir.outputs.is_dir()
    with qtbot.waitSignal(vm.error_raised) as error, qtbot.assertNotEmitted(vm.job_deleted):
        vm.delete("run1")
    assert error.args == ["Job run1 is still running; cancel it before deleting it."]
    assert bridge.engine.store.get("run1") is not None and "run1" in shown(vm)


@pytest.mark.slow
def test_rerun_submits_the_same_job_again_through_the_engine(engine, box_obj, qtbot, qapp):
    from app.bridge import EngineBridge

    staged = engine.stage(str(box_obj))
    first = engine.submit("mesh_segmentation", [staged], adapter="sleepy",
                          params={"steps": 2, "step_s": 0.01})
    assert engine.wait(first, timeout=60).status == "succeeded"
    vm = HistoryViewModel(EngineBridge(engine), open_url=lambda url: True)
    assert [vm.model.index(r, 0).data(Qt.ItemDataRole.UserRole).job_id
            for r in range(vm.model.rowCount())] == [first]
    with qtbot.waitSignal(vm.job_resubmitted, timeout=30_000) as resubmitted:
        vm.rerun(first)
    second = resubmitted.args[0]
    assert second != first and engine.wait(second, timeout=60).status == "succeeded"
    old, new = engine.get(first).spec, engine.get(second).spec
    assert new == old  # same feature, adapter, params and (content-addressed) inputs
    qtbot.waitUntil(lambda: vm.model.job(second) is not None
                    and vm.model.job(second).state is JobState.SUCCEEDED, timeout=10_000)
    assert vm.model.rowCount() == 2
    vm.close()


# ---- the widget -----------------------------------------------------------------------


@pytest.fixture
def view(vm, qtbot):
    from app.views.history_view import HistoryView

    widget = HistoryView(vm)
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    return widget


def select(view, job_id: str) -> QModelIndex:
    table = view.table
    for row in range(table.model().rowCount()):
        index = table.model().index(row, 1)
        if index.data(Qt.ItemDataRole.UserRole).job_id == job_id:
            table.setCurrentIndex(index)
            table.selectRow(row)
            return index
    raise AssertionError(f"{job_id} is not shown")


def test_view_filter_bar_drives_the_proxy(view, vm, qtbot):
    view.feature_combo.setCurrentIndex(view.feature_combo.findData("mesh_segmentation"))
    assert view.table.model().rowCount() == 3
    view.status_combo.setCurrentIndex(view.status_combo.findData("cancelled"))
    assert shown(vm) == ["seg2"]
    view.status_combo.setCurrentIndex(0)
    view.feature_combo.setCurrentIndex(0)
    qtbot.keyClicks(view.search_edit, "table")
    assert shown(vm) == ["uv2"]


def test_view_double_click_opens_and_buttons_follow_the_selection(view, vm, qtbot):
    index = select(view, "uv1")
    assert view.job_actions["open"].isEnabled() and view.job_actions["delete"].isEnabled()
    rect = view.table.visualRect(index)
    viewport, left = view.table.viewport(), Qt.MouseButton.LeftButton
    with qtbot.waitSignal(vm.open_requested):
        qtbot.mouseClick(viewport, left, pos=rect.center())  # Qt wants the press it pairs with
        qtbot.mouseDClick(viewport, left, pos=rect.center())
    select(view, "run1")
    assert not view.job_actions["open"].isEnabled() and not view.job_actions["delete"].isEnabled()
    assert view.job_actions["rerun"].isEnabled()
    with qtbot.waitSignal(vm.input_chosen):
        select(view, "seg1")
        view.job_actions["use_as_input"].trigger()


def test_view_delete_key_asks_first(view, vm, bridge, monkeypatch, qtbot):
    answers = [False, True]
    monkeypatch.setattr(view, "confirm_delete", lambda job_id: answers.pop(0))
    select(view, "seg2")
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    assert "seg2" in shown(vm)  # the artist said no
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    assert "seg2" not in shown(vm) and bridge.engine.store.get("seg2") is None


def test_view_export_and_errors(view, vm, tmp_path, monkeypatch, qtbot):
    dest = tmp_path / "out.glb"
    # the dialog's choice; no options means a byte copy of the GLB (these are stand-in files)
    monkeypatch.setattr(view, "ask_export", lambda suggested: (str(dest), None))
    select(view, "uv1")
    with qtbot.waitSignal(vm.job_exported, timeout=5000):
        view.job_actions["export"].trigger()
    assert dest.exists()
    vm.delete("run1")
    assert view.message_label.text() == "Job run1 is still running; cancel it before deleting it."


def test_rows_name_the_input_and_failures_read_red(vm):
    model = vm.model
    row = shown(vm).index("uv2")
    assert model.index(row, INPUT).data() == "table.glb"
    assert model.index(row, STATUS).data(Qt.ItemDataRole.ForegroundRole) == FAILED_COLOUR
    ok = shown(vm).index("uv1")
    assert model.index(ok, STATUS).data(Qt.ItemDataRole.ForegroundRole) is None


def test_view_deletes_several_selected_jobs_after_one_question(view, vm, bridge, monkeypatch):
    from PySide6.QtCore import QItemSelectionModel

    asked = []
    monkeypatch.setattr(view, "confirm_delete", lambda job_ids: asked.append(job_ids) or True)
    selection = view.table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for job_id in ("uv2", "seg2", "run1"):  # run1 still runs: it is left alone
        selection.select(view.table.model().index(shown(vm).index(job_id), 0), flags)
    assert view.job_actions["delete"].isEnabled() is False  # not all of them can go
    selection.select(view.table.model().index(shown(vm).index("run1"), 0),
                     QItemSelectionModel.SelectionFlag.Deselect
                     | QItemSelectionModel.SelectionFlag.Rows)
    assert view.job_actions["delete"].isEnabled()
    view.job_actions["delete"].trigger()
    assert [sorted(ids) for ids in asked] == [["seg2", "uv2"]]
    assert "uv2" not in shown(vm) and "seg2" not in shown(vm) and "run1" in shown(vm)
    assert bridge.engine.store.get("uv2") is None


def test_the_grid_shows_thumbnails_and_shares_the_tables_selection(view, vm, qtbot):
    from app.viewmodels.history_viewmodel import TILE_ROLE, TILE_SIZE

    view.show_grid(True)
    assert view.grid.isVisible() and not view.table.isVisible()
    row = shown(vm).index("uv1")
    index = view.grid.model().index(row, THUMBNAIL)
    index.data(TILE_ROLE)  # the first ask queues the read
    qtbot.waitUntil(lambda: isinstance(index.data(TILE_ROLE), QPixmap), timeout=5000)
    assert index.data(TILE_ROLE).width() == TILE_SIZE  # the larger picture, aspect kept
    view.grid.setCurrentIndex(index)
    assert view.selected_job().job_id == "uv1" and view.job_actions["open"].isEnabled()
    rect = view.grid.visualRect(index)
    with qtbot.waitSignal(vm.open_requested):
        qtbot.mouseClick(view.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(view.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    view.grid_button.click()
    assert view.table.isVisible()


def test_a_narrow_panel_hides_the_least_needed_columns_instead_of_scrolling(view, qtbot):
    from app.viewmodels.history_cells import ADAPTER, DURATION, PIPELINE, USER

    header, bar = view.table.horizontalHeader(), view.table.horizontalScrollBar()
    always = [c for c in range(header.count()) if c not in (USER, PIPELINE, ADAPTER, DURATION)]
    widths = {}
    for width in (1400, 600, 760, 1400):  # wide, a 1366 x 768 screen's panel, between, wide
        view.resize(width, 500)
        qtbot.waitUntil(lambda w=width: view.width() == w, timeout=2_000)
        qtbot.wait(20)
        widths[width] = [c for c in range(header.count()) if not header.isSectionHidden(c)]
        assert bar.maximum() == 0, f"the table scrolls sideways at {width} px"
        assert all(c in widths[width] for c in always)
    assert widths[1400] == list(range(header.count()))  # everything when it fits
    assert USER not in widths[600] and DURATION not in widths[600]
    hidden_760 = [c for c in (USER, PIPELINE, ADAPTER, DURATION) if c not in widths[760]]
    assert hidden_760 and hidden_760 == [USER, PIPELINE, ADAPTER, DURATION][: len(hidden_760)]
