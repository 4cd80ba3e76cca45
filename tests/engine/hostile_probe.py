"""``python -m tests.engine.hostile_probe FILE``: stage FILE into a fresh data folder in this
process alone and print one JSON line: the refusal's sentence (or null) and the peak memory
(resource.getrusage's ru_maxrss), so a test can hold each hostile input to a memory ceiling."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

from engine.errors import MeshsmithError
from engine.meshio import staging
from engine.storage.paths import DataDir


def main(path: str) -> None:
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as home:
        try:
            staging.stage_input(Path(path), DataDir(Path(home)).ensure())
            sentence = None
        except MeshsmithError as exc:
            sentence = exc.message
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"sentence": sentence, "peak_mb": peak // 1024,
                      "imports_mb": baseline // 1024}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
