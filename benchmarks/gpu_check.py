"""GPU check: what only a machine with an NVIDIA GPU can show. Under 5 minutes.

Today it runs the neural models' part (benchmarks/_gpu_models.py: the tiny Hunyuan3D-2 and
Shap-E pipelines on CUDA in fp16, bf16, model offload and sequential offload, peak VRAM per
plan, and engine jobs on cuda:0). The engine's own checks (NVML accounting, OOM retry,
eviction; issue 13) join this script as further parts. Without a GPU it says so and exits 0.

    .venv/bin/python benchmarks/gpu_check.py

The last stdout line is one JSON object: {"models": {...}, "ok": true|false}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _gpu_models


def main() -> int:
    models = _gpu_models.run()
    ok = models.get("ok", False) if models["ran"] else True
    print(json.dumps({"models": models, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
