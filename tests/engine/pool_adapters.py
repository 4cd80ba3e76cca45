"""Adapters for the pool tests: real worker processes with a scripted load."""

from __future__ import annotations

import os
from pathlib import Path

from engine.contract.spec import AdapterSpec
from tests.engine.fake_adapters import SleepyAdapter

MARKER_ENV = "MESHSMITH_TEST_LOAD_MARKER"


class OomOnceAdapter(SleepyAdapter):
    """Its first load ever (per marker file) runs out of memory; later loads succeed."""

    def load(self, device: str) -> None:
        marker = Path(os.environ[MARKER_ENV])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            raise MemoryError("the model did not fit")
        super().load(device)


def oom_once_spec() -> AdapterSpec:
    return AdapterSpec(
        id="oom_once", feature="mesh_segmentation", label="Fake oom_once",
        description="A test adapter whose first load runs out of memory.",
        entry="tests.engine.pool_adapters:OomOnceAdapter",
        params="tests.engine.fake_adapters:SleepyParams", inputs=("mesh",), devices=("cpu",))
