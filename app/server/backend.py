"""Where the server's jobs run: an engine in this process (``main.py serve`` on its own, or the
studio serving from its menu) or the running studio's engine over the local socket
(engine.runtime.instance), so one engine per data directory still holds.

Both stage inputs here (engine.meshio.staging, the CLI's rules), read the job history from the
same SQLite file, and keep each job's live progress, stage, wait cause and ETA from the
engine's events (``LiveJobs``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from engine.contract.spec import AdapterSpec, Registry
from engine.errors import MeshsmithError
from engine.jobs import Job, JobState
from engine.meshio import staging
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent
from engine.runtime.instance_client import InstanceClient
from engine.storage.jobstore import JobStore
from engine.storage.models import KNOWN_MODELS, ModelStore
from engine.storage.paths import DataDir
from engine.workers.devices import DeviceMemory, Devices

log = logging.getLogger(__name__)
_FEED_KINDS = {"progress": "progress", "waiting": "waiting", "state": "updated"}


@dataclass(frozen=True)
class Live:
    stage: str = ""
    fraction: float = 0.0
    cause: str | None = None
    eta_s: float | None = None


class LiveJobs:
    """What the history does not hold: each unfinished job's latest progress and wait cause."""

    def __init__(self) -> None:
        self._jobs: dict[str, Live] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Live:
        with self._lock:
            return self._jobs.get(job_id, Live())

    def on_event(self, event: JobEvent) -> None:
        state = event.job.state.value if event.job is not None else ""
        self._apply(event.kind, event.job_id, state, event.stage, event.fraction, event.cause,
                    event.eta_s)

    def on_message(self, message: dict[str, Any]) -> None:
        """An event as the studio's ``watch`` stream sends it."""
        kind = _FEED_KINDS.get(str(message.get("event")))
        if kind is not None:
            self._apply(kind, str(message.get("job_id", "")), str(message.get("state", "")),
                        str(message.get("stage", "")), float(message.get("fraction") or 0.0),
                        message.get("cause"), message.get("eta_s"))

    def _apply(self, kind: str, job_id: str, state: str, stage: str, fraction: float,
               cause: str | None, eta_s: float | None) -> None:
        with self._lock:
            now = self._jobs.get(job_id, Live())
            if kind == "progress":
                self._jobs[job_id] = Live(stage, fraction, None, eta_s)
            elif kind == "waiting":
                self._jobs[job_id] = replace(now, cause=cause, eta_s=eta_s)
            elif state and JobState(state).terminal:
                self._jobs.pop(job_id, None)
            elif state == JobState.RUNNING.value:
                self._jobs[job_id] = replace(now, cause=None)


class Backend:
    """What the routes need from an engine; ``EngineBackend`` and ``StudioBackend`` differ only
    in how a job is submitted and cancelled."""

    kind = ""

    def __init__(self, data: DataDir, registry: Registry, store: JobStore) -> None:
        self.data, self.registry, self.store = data, registry, store
        self.live = LiveJobs()
        self._models = ModelStore(data)

    def stage(self, source: staging.Source) -> staging.StagedInput:
        return staging.stage_input(source, self.data)

    def submit(self, feature: str, inputs: list[staging.StagedInput], adapter: str,
               params: dict[str, Any], user: str) -> str:
        raise NotImplementedError

    def cancel(self, job_id: str) -> None:
        raise NotImplementedError

    def devices(self) -> list[DeviceMemory]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def installed(self) -> dict[str, list[str]]:
        """Adapter ids per feature whose model weights are there (or need none)."""
        found: dict[str, list[str]] = {}
        for spec in self.registry.specs:
            if self.missing_model(spec) is None:
                found.setdefault(spec.feature, []).append(spec.id)
        return found

    def missing_model(self, spec: AdapterSpec) -> str | None:
        """The name of a model the adapter needs that is not installed, if any (disk reads)."""
        for info in KNOWN_MODELS:
            if spec.id in info.adapters and self._models.status(info.id).state != "installed":
                return info.name
        return None


class EngineBackend(Backend):
    """An engine in this process; ``owned``: started for the server, shut down with it."""

    def __init__(self, engine: Engine, *, owned: bool = False) -> None:
        if engine.store is None:
            raise RuntimeError("the engine is not started")
        super().__init__(engine.data, engine.registry, engine.store)
        self.engine, self.owned = engine, owned
        self.kind = "own" if owned else "studio"
        engine.subscribe(self.live.on_event)

    def submit(self, feature: str, inputs: list[staging.StagedInput], adapter: str,
               params: dict[str, Any], user: str) -> str:
        return self.engine.submit(feature, inputs, adapter=adapter, params=params, user=user)

    def cancel(self, job_id: str) -> None:
        self.engine.cancel(job_id)

    def devices(self) -> list[DeviceMemory]:
        return self.engine.devices.measure()

    def close(self) -> None:
        self.engine.unsubscribe(self.live.on_event)
        if self.owned:
            self.engine.shutdown()


class StudioBackend(Backend):
    """The running studio's engine, over its local socket; the history is read here."""

    kind = "studio-socket"

    def __init__(self, data: DataDir, registry: Registry, *,
                 on_lost: Callable[[], None] | None = None) -> None:
        super().__init__(data, registry, JobStore(data.db, recover=False))
        self.on_lost = on_lost
        self._devices = Devices()
        self._closed = threading.Event()
        self._watcher: InstanceClient | None = None
        self.studio_pid = 0
        threading.Thread(target=self._watch, name="meshsmith-api-watch", daemon=True).start()

    def submit(self, feature: str, inputs: list[staging.StagedInput], adapter: str,
               params: dict[str, Any], user: str) -> str:
        answer = self._ask({"op": "submit", "feature": feature, "adapter": adapter,
                            "inputs": [str(staged.path) for staged in inputs],
                            "params": params, "user": user})
        return str(answer["job_id"])

    def cancel(self, job_id: str) -> None:
        self._ask({"op": "cancel_job", "job_id": job_id})

    def devices(self) -> list[DeviceMemory]:
        return self._devices.measure()

    def close(self) -> None:
        self._closed.set()
        watcher = self._watcher
        if watcher is not None:
            watcher.close()
        self.store.close()

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        client = InstanceClient.connect(self.data)
        if client is None:
            raise MeshsmithError("INTERRUPTED", "The studio this server hands its jobs to has "
                                 "closed; start `main.py serve` again.")
        with client:
            return list(client.request(message))[-1]

    def _watch(self) -> None:
        client = InstanceClient.connect(self.data)
        self._watcher = client
        if client is not None:
            self.studio_pid = client.studio_pid
            try:
                for message in client.request({"op": "watch"}):
                    self.live.on_message(message)
            except (MeshsmithError, OSError, ValueError) as exc:
                log.info("the studio's event stream ended: %s", exc)
        if not self._closed.is_set() and self.on_lost is not None:
            self.on_lost()
