"""``python -m tests.engine.hostile_probe FILE``: stage FILE into a fresh data folder in this
process alone and print one JSON line: the refusal's sentence (or null) and the peak memory,
so a test can hold each hostile input to a memory ceiling.

A child's ru_maxrss starts at its parent's high-water mark (Linux keeps it across fork and
exec), which inside a long test run is the test process's size, not the probe's. So the
probe resets its own mark first (``/proc/self/clear_refs``) and reads the kernel's VmHWM at
the end; where that reset is refused it falls back to ru_maxrss."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

from engine.errors import MeshsmithError
from engine.meshio import staging
from engine.storage.paths import DataDir


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM)
    except OSError:
        return False
    return True


def main(path: str) -> None:
    exact = _reset_peak()
    baseline = (_status_kib("VmRSS") if exact else None) or \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as home:
        try:
            staging.stage_input(Path(path), DataDir(Path(home)).ensure())
            sentence = None
        except MeshsmithError as exc:
            sentence = exc.message
    peak = (_status_kib("VmHWM") if exact else None) or \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"sentence": sentence, "peak_mb": peak // 1024,
                      "imports_mb": baseline // 1024}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
