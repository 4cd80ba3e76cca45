"""Recipes from the Create panel: one click runs them on the panel's input, the History panel
groups their steps (a Pipeline column and a filter), cancel stops the whole pipeline."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.bridge import EngineBridge
from app.viewmodels.create_viewmodel import CreateViewModel
from app.viewmodels.history_viewmodel import JOB_ROLE, PIPELINE, HistoryViewModel
from app.viewmodels.pipeline_viewmodel import PipelineViewModel
from app.views.history_view import HistoryView
from app.views.recipe_bar import RecipeBar
from engine.pipelines.recipes import BUILTIN, Recipe, RecipeBook

pytestmark = pytest.mark.slow

THREE = Recipe.model_validate({"name": "Three fake steps", "steps": [
    {"feature": "mesh_segmentation", "adapter": "sleepy", "params": {"steps": 2}},
    {"feature": "part_completion", "adapter": "sleepy_parts", "params": {"steps": 2}},
    {"feature": "uv_unwrapping", "adapter": "xatlas"}]})
SLOW = Recipe.model_validate({"name": "Slow start", "steps": [
    {"feature": "mesh_segmentation", "adapter": "sleepy",
     "params": {"steps": 400, "step_s": 0.05}},
    {"feature": "uv_unwrapping", "adapter": "xatlas"}]})


@pytest.fixture
def panel(qtbot, engine, data_dir, box_obj):
    book = RecipeBook(data_dir)
    book.save(THREE, "three")
    book.save(SLOW, "slow")
    bridge = EngineBridge(engine)
    create = CreateViewModel(bridge)
    pipelines = PipelineViewModel(bridge, create)
    history = HistoryViewModel(bridge)
    with qtbot.waitSignal(create.input_changed, timeout=30_000):
        create.set_input_source(str(box_obj))
    yield pipelines, history
    history.close()
    bridge.pipelines.close()


def test_run_recipe_runs_three_steps_and_the_history_groups_them(qtbot, panel, engine):
    pipelines, history = panel
    engine.submit("uv_unwrapping", [pipelines.create.staged], adapter="xatlas")  # not a step
    bar = RecipeBar(pipelines)
    qtbot.addWidget(bar)
    assert bar.combo.count() == len(BUILTIN) + 2
    bar.combo.setCurrentIndex(bar.combo.findData("three"))
    bar.combo.activated.emit(bar.combo.currentIndex())
    assert pipelines.recipe_id == "three" and bar.run_button.isEnabled()
    with qtbot.waitSignal(pipelines.pipeline_finished, timeout=180_000) as finished:
        bar.run_button.click()
    result = finished.args[0]
    assert result.status == "succeeded" and len(result.steps) == 3
    assert bar.status.text() == "Three fake steps: all 3 steps done."
    view = HistoryView(history)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: history.proxy.rowCount() == 4, timeout=30_000)
    cells = sorted(history.proxy.index(r, PIPELINE).data() for r in range(4))
    assert cells == ["", "Three fake steps · step 1", "Three fake steps · step 2",
                     "Three fake steps · step 3"]
    # the grouping: "Pipeline" on a step shows just that pipeline's steps
    step = next(r for r in range(4) if history.proxy.index(r, PIPELINE).data())
    view.table.selectRow(step)
    assert view.job_actions["pipeline"].isEnabled()
    view.job_actions["pipeline"].trigger()
    assert history.proxy.rowCount() == 3
    steps = {history.proxy.index(r, 0).data(JOB_ROLE).pipeline.id for r in range(3)}
    assert steps == {result.pipeline_id}
    view.table.sortByColumn(PIPELINE, Qt.SortOrder.AscendingOrder)
    assert [history.proxy.index(r, PIPELINE).data()[-1] for r in range(3)] == ["1", "2", "3"]


def test_cancel_recipe_stops_the_whole_pipeline(qtbot, panel, engine):
    pipelines, _history = panel
    pipelines.set_recipe("slow")
    with qtbot.waitSignal(pipelines.status_changed, timeout=30_000) as status:
        pipelines.run()
    assert status.args[0] == "Step 1 of 2: Segment parts…"
    assert pipelines.run_disabled_reason().startswith("A recipe is running")
    qtbot.waitUntil(lambda: bool(engine.progress), timeout=60_000)
    with qtbot.waitSignal(pipelines.pipeline_finished, timeout=60_000) as finished:
        pipelines.cancel()
    assert finished.args[0].status == "cancelled"
    assert len(engine.store.list(pipeline_id=finished.args[0].pipeline_id)) == 1
    assert pipelines.run_disabled_reason() == ""  # ready for the next one
