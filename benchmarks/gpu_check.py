"""GPU check: what only a machine with an NVIDIA GPU can show. Under 5 minutes.

Two parts: the neural models (benchmarks/_gpu_models.py: the tiny Hunyuan3D-2 and Shap-E
pipelines on CUDA in fp16, bf16, model offload and sequential offload, peak VRAM per plan,
and engine jobs on cuda:0), and the worker pool (benchmarks/_gpu_pool.py: NVML per-process
accounting against torch, a real out-of-memory and its retry, two adapters sharing a GPU,
eviction before a load, the idle timeout). Headless, no Qt. Without a GPU each part says so
and the script exits 0.

    .venv/bin/python benchmarks/gpu_check.py

The last stdout line is one JSON object: {"models": {...}, "pool": {...}, "ok": true|false}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _gpu_models, _gpu_pool


def main() -> int:
    parts = {"models": _gpu_models.run(), "pool": _gpu_pool.run()}
    ok = all(part.get("ok", False) for part in parts.values() if part["ran"])
    print(json.dumps({**parts, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
