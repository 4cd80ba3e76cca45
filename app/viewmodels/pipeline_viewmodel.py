"""Recipes in the Create panel: pick one, run it on the panel's input with one click, follow
its steps, cancel it whole. The running is engine.pipelines.runner's; this only adapts it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from app.viewmodels.create_viewmodel import FEATURE_LABELS
from engine.errors import MeshsmithError
from engine.meshio.staging import KIND_PHRASE
from engine.pipelines.recipes import Recipe, RecipeBook
from engine.pipelines.runner import PipelineEvent, PipelineResult

if TYPE_CHECKING:
    from app.bridge import EngineBridge
    from app.viewmodels.create_viewmodel import CreateViewModel


class PipelineViewModel(QObject):
    recipes_changed = Signal(list)  # [(id, name)]
    can_run_changed = Signal(bool, str)  # enabled, the reason when disabled
    running_changed = Signal(bool)
    status_changed = Signal(str)  # "Step 2 of 4: Retopologize…", the outcome
    pipeline_started = Signal(str)  # pipeline id
    pipeline_finished = Signal(object)  # PipelineResult
    error_raised = Signal(str)

    def __init__(self, bridge: EngineBridge, create: CreateViewModel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.create = create
        self.book = RecipeBook(bridge.engine.data)
        self.recipes: list[tuple[str, Recipe]] = []
        self.recipe_id = ""
        self.active: str | None = None  # the pipeline this panel started and follows
        self._active_recipe: Recipe | None = None  # the combo may move on while it runs
        bridge.pipeline_event.connect(self._on_bridge_pipeline_event)
        create.input_changed.connect(self.update_can_run)
        create.can_run_changed.connect(self.update_can_run)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Re-read the saved recipes (the artist may have added a file)."""
        self.recipes = self.book.all()
        if self.recipe_id not in {rid for rid, _ in self.recipes}:
            self.recipe_id = self.recipes[0][0] if self.recipes else ""
        self.recipes_changed.emit([(rid, recipe.name) for rid, recipe in self.recipes])
        self.update_can_run()

    @Slot(str)
    def set_recipe(self, recipe_id: str) -> None:
        self.recipe_id = recipe_id
        self.update_can_run()

    def recipe(self) -> Recipe | None:
        return next((r for rid, r in self.recipes if rid == self.recipe_id), None)

    def describe(self) -> str:
        recipe = self.recipe()
        if recipe is None:
            return ""
        steps = " → ".join(FEATURE_LABELS.get(s.feature, s.feature) for s in recipe.steps)
        return f"{recipe.description}\n{steps}".strip()

    def input_kind(self) -> str | None:
        """What the recipe starts from: the first step's adapter input."""
        recipe = self.recipe()
        if recipe is None:
            return None
        step = recipe.steps[0]
        try:
            return self.bridge.engine.registry.find(step.feature, step.adapter).inputs[0]
        except (MeshsmithError, IndexError):
            return None

    def run_disabled_reason(self) -> str:
        if self.active is not None:
            return "A recipe is running; cancel it or wait for it to finish."
        if self.recipe() is None:
            return "Choose a recipe."
        kind = self.input_kind()
        if kind is None:
            return "This recipe's first step has no installed adapter."
        if self.create.staging:
            return "Reading the input…"
        if kind not in self.create.inputs:
            return f"Drop {KIND_PHRASE.get(kind, kind)} to run this recipe."
        return ""

    @Slot()
    def run(self) -> str | None:
        """Check the whole recipe and queue its first step (fast: the input is staged)."""
        recipe, kind = self.recipe(), self.input_kind()
        if self.run_disabled_reason() or recipe is None or kind is None:
            return None
        try:
            pipeline_id = self.bridge.pipelines.start(recipe, self.create.inputs[kind])
        except MeshsmithError as exc:
            self.error_raised.emit(exc.message)
            return None
        self.active, self._active_recipe = pipeline_id, recipe
        self.running_changed.emit(True)
        self.pipeline_started.emit(pipeline_id)
        # the first step's event came during start(), before this panel followed the id
        self._show_step(recipe, 0)
        self.update_can_run()
        return pipeline_id

    @Slot()
    def cancel(self) -> None:
        if self.active is not None:
            self.status_changed.emit("Cancelling the recipe…")
            self.bridge.pipelines.cancel(self.active)

    @Slot(object)
    def _on_bridge_pipeline_event(self, event: PipelineEvent) -> None:
        if event.pipeline_id != self.active:
            return
        if event.kind == "step" and self._active_recipe is not None:
            self._show_step(self._active_recipe, event.step)
        elif event.kind == "finished" and event.result is not None:
            self._finished(event.result)

    def _show_step(self, recipe: Recipe, index: int) -> None:
        total = len(recipe.steps)
        feature = recipe.steps[index].feature if index < total else ""
        self.status_changed.emit(
            f"Step {index + 1} of {total}: {FEATURE_LABELS.get(feature, feature)}…")

    def _finished(self, result: PipelineResult) -> None:
        self.active, self._active_recipe = None, None
        if result.status == "succeeded":
            self.status_changed.emit(f"{result.recipe}: all {result.total_steps} steps done.")
        else:
            self.status_changed.emit(result.error.message if result.error else result.status)
        self.running_changed.emit(False)
        self.pipeline_finished.emit(result)
        self.update_can_run()

    def update_can_run(self, *_args: object) -> None:
        reason = self.run_disabled_reason()
        self.can_run_changed.emit(not reason, reason)
