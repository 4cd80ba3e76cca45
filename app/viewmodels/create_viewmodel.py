"""The Create panel's state: feature, adapter, parameters, the staged input, and Run."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from app import offload
from app.bridge import EngineBridge
from app.viewmodels.job_results import await_and_show
from app.viewmodels.names import FEATURE_LABELS
from app.viewmodels.viewport_viewmodel import ViewportViewModel
from engine.contract.spec import AdapterSpec
from engine.errors import MeshsmithError
from engine.jobs import FEATURES, JobResult
from engine.meshio.staging import KIND_PHRASE, StagedInput

log = logging.getLogger(__name__)

DEFAULT_FEATURE = "image_to_textured_mesh"


class CreateViewModel(QObject):
    feature_changed = Signal(str)
    adapter_changed = Signal(object)  # AdapterSpec
    params_changed = Signal(dict)
    input_changed = Signal(object)  # StagedInput | None
    input_staging_started = Signal(str)  # what is being staged, for a busy indicator
    can_run_changed = Signal(bool, str)  # enabled, the reason when disabled
    job_submitted = Signal(str)  # job id, as Run's flow submits it
    error_raised = Signal(str)  # one sentence for the artist

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None, *,
                 viewport: ViewportViewModel | None = None) -> None:
        """``viewport``: where Run shows its result (none: Run only submits and awaits)."""
        super().__init__(parent)
        self.bridge = bridge
        self.viewport = viewport
        self.registry = bridge.engine.registry
        self.feature = ""
        self.adapter: AdapterSpec | None = None
        self.params: dict[str, Any] = {}
        self.staged: StagedInput | None = None  # the latest input, whatever its kind
        self.inputs: dict[str, StagedInput] = {}  # one per kind: painting takes mesh + image
        self.input_thumbnail: Path | None = None
        self.staging = False
        offload.STAGING.start()  # spawn and import now, not when the first file is dropped
        features = self.features()
        # Start where every artist can: a feature that needs no model weights and takes a file.
        self.set_feature(DEFAULT_FEATURE if DEFAULT_FEATURE in features else features[0])

    # ---- choices --------------------------------------------------------------------------
    def features(self) -> list[str]:
        """Features that have at least one adapter, in the contract's order."""
        available = {s.feature for s in self.registry.specs}
        return [f for f in FEATURES if f in available]

    def adapters(self) -> list[AdapterSpec]:
        return [s for s in self.registry.specs if s.feature == self.feature]

    def set_feature(self, feature: str) -> None:
        if feature == self.feature:
            return
        self.feature = feature
        self.feature_changed.emit(feature)
        self.set_adapter(self.adapters()[0].id)

    def set_adapter(self, adapter_id: str) -> None:
        self.adapter = self.registry.find(self.feature, adapter_id)
        schema = self.adapter.params_model().model_json_schema()
        self.params = {k: v.get("default") for k, v in schema.get("properties", {}).items()}
        self.adapter_changed.emit(self.adapter)
        self.params_changed.emit(dict(self.params))
        self._update_can_run()

    def set_param(self, name: str, value: Any) -> None:
        self.params[name] = value
        self._update_can_run()

    # ---- input ----------------------------------------------------------------------------
    @asyncSlot(str)
    async def set_input_source(self, source: str) -> None:
        """Stage a path or ``job:<id>`` off the GUI thread, then draw a mesh input's thumbnail;
        the outcome arrives as ``input_changed`` or ``error_raised``."""
        self.staging = True
        self.input_staging_started.emit(source)
        self._update_can_run()
        try:
            staged = await self._stage(source)
            thumbnail = await self._thumbnail(staged)
        except asyncio.CancelledError:  # the caller cancelled the task: nothing is staging
            self.staging = False
            self._update_can_run()
            raise
        except Exception as exc:  # every failure becomes a sentence
            self._on_stage_failed(exc)
            return
        self._on_staged(staged, thumbnail)

    async def _stage(self, source: str) -> StagedInput:
        """Staging reads and hashes files: on an executor thread, awaited here."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.bridge.engine.stage, source)

    async def _thumbnail(self, staged: StagedInput) -> Path | None:
        """A mesh input's thumbnail beside it, drawn in the staging helper process:
        rasterizing a million faces on a thread would hold the GIL the GUI thread needs."""
        if staged.kind != "mesh":
            return None
        thumbnail = staged.path.with_name("thumbnail.png")
        if not thumbnail.exists():
            try:
                await asyncio.wrap_future(offload.STAGING.submit(
                    offload.render_mesh_thumbnail, str(staged.path), str(thumbnail)))
            except Exception:  # a preview is a nicety; the staged input is what matters
                log.warning("no thumbnail for %s", staged.path, exc_info=True)
                return None
        return thumbnail

    def clear_input(self) -> None:
        self.staged, self.input_thumbnail = None, None
        self.inputs.clear()
        self.input_changed.emit(None)
        self._update_can_run()

    def _on_staged(self, staged: StagedInput, thumbnail: Path | None) -> None:
        self.staging = False
        self.staged, self.input_thumbnail = staged, thumbnail
        self.inputs[staged.kind] = staged
        if self.adapter is not None and staged.kind not in self.adapter.inputs:
            self._switch_to_feature_for(staged.kind)
        self.input_changed.emit(staged)
        self._update_can_run()

    def _switch_to_feature_for(self, kind: str) -> None:
        """A dropped mesh on an image feature (or the reverse) means the artist moved on:
        prefer an adapter that needs only that kind (painting needs a picture as well)."""
        order = {f: i for i, f in enumerate(self.features())}
        takes = sorted((s for s in self.registry.specs if kind in s.inputs),
                       key=lambda s: (s.inputs != (kind,), order.get(s.feature, 99)))
        if takes:
            self.set_feature(takes[0].feature)
            self.set_adapter(takes[0].id)

    def _on_stage_failed(self, exc: BaseException) -> None:
        self.staging = False
        # the artist meant to replace the input: Run must not quietly run the previous one
        self.staged, self.input_thumbnail = None, None
        self.inputs.clear()
        self.input_changed.emit(None)
        self.error_raised.emit(_sentence(exc))
        self._update_can_run()

    # ---- run ------------------------------------------------------------------------------
    def run_disabled_reason(self) -> str:
        if self.adapter is None:
            return "Choose a feature."
        if self.staging:
            return "Reading the input…"
        # Text features take no file (their prompt is a parameter), so any input is fine there.
        staged = self.staged
        if self.adapter.inputs and staged is not None and staged.kind not in self.adapter.inputs:
            wanted = KIND_PHRASE[self.adapter.inputs[0]]
            return f"{FEATURE_LABELS[self.feature]} needs {wanted}, not {KIND_PHRASE[staged.kind]}."
        missing = [KIND_PHRASE[k] for k in self.adapter.inputs if k not in self.inputs]
        if missing:
            return f"Drop {' and '.join(missing)} to start."
        try:
            self.adapter.parse_params(self.params)
        except MeshsmithError as exc:
            return exc.message
        return ""

    def run(self) -> asyncio.Task | None:
        """Start Run on the staged inputs with the current settings (taken now: the artist may
        change them while it runs); returns the flow's task, None when Run is disabled."""
        if self.run_disabled_reason() or self.adapter is None:
            return None
        return self._run(self._order(), None)

    @asyncSlot(list)
    async def run_batch(self, sources: list[str]) -> None:
        """One job per source, all staged at once, each submitted when ready; a source that
        cannot be read says so and the others go on."""
        order = self._order()
        await asyncio.gather(*(self._run(order, source) for source in sources))

    @asyncSlot()
    async def _run(self, order: RunOrder, source: str | None) -> JobResult | None:
        """Run, top to bottom: stage a batch's ``source`` and draw its thumbnail (the inputs
        of a single Run were staged when dropped), submit, await the engine's result, then
        show it if nothing else is on screen. Cancelling the task cancels the job. A failed
        job's notice comes from the engine's events, as for every job (JobOutcomes)."""
        inputs = order.inputs
        try:
            if source is not None:
                staged = await self._stage(source)
                await self._thumbnail(staged)  # the Jobs card shows it
                inputs = order.inputs_with(staged)
            job_id = self.bridge.engine.submit(order.feature, inputs, adapter=order.adapter,
                                               params=order.params)
        except Exception as exc:  # every failure becomes a sentence
            self.error_raised.emit(_sentence(exc))
            return None
        self.job_submitted.emit(job_id)
        try:
            return await await_and_show(self.bridge.engine, job_id, self.viewport)
        except MeshsmithError as exc:  # the engine stopped before the job ended
            self.error_raised.emit(exc.message)
            return None

    # ---- helpers --------------------------------------------------------------------------
    def _order(self) -> RunOrder:
        return RunOrder(self.feature, self.adapter.id, dict(self.params), self.adapter.inputs,
                        dict(self.inputs))

    def _update_can_run(self) -> None:
        reason = self.run_disabled_reason()
        self.can_run_changed.emit(not reason, reason)


@dataclass(frozen=True)
class RunOrder:
    """What Run was asked for, taken when it was pressed."""

    feature: str
    adapter: str
    params: dict[str, Any]
    kinds: tuple[str, ...]  # the adapter's inputs, in its order
    chosen: dict[str, StagedInput]  # the staged input of each kind

    @property
    def inputs(self) -> list[StagedInput]:
        return [self.chosen[kind] for kind in self.kinds if kind in self.chosen]

    def inputs_with(self, staged: StagedInput) -> list[StagedInput]:
        """A batch's file stands in for the input of its own kind."""
        return replace(self, chosen={**self.chosen, staged.kind: staged}).inputs


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, MeshsmithError):
        return exc.message
    log.error("staging failed", exc_info=exc)
    return f"Could not read the input: {exc}."
