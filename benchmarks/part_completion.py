"""Part completion measured on cases with a known truth: each part one closed solid, the
union of the parts against the object's true solid (volume IoU), the input's visible
surface kept (mean distance, share of the bounding-box diagonal), time and peak memory.

Cases (benchmarks/_part_cases.py): objects of overlapping primitives fused into one mesh and
cut by their known parts ("cut"), the same with the faces near where parts touch cut away
too ("holes"), and generated-like soups of the primitives ("generated": overlapping without
a union, bumpy, small holes, ragged and scattered labels, faces wound the wrong way,
floating debris). Each adapter's run() is called in this process, as a worker calls it; the
GLB is written by the engine's writer and checked by the Khronos validator when Node is
there.

    .venv/bin/python benchmarks/part_completion.py [--adapters volumetric fill_parts]
        [--kinds cut holes generated] [--shapes table snowman ...] [--param resolution=96]

Prints one line per case, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._memory import peak_mb, reset_peak
from benchmarks._part_cases import (
    MORE_SHAPES,
    SHAPES,
    Case,
    Primitive,
    cut_case,
    generated_case,
)
from benchmarks._part_metrics import measure

ALL_SHAPES: dict[str, Callable[[], list[Primitive]]] = {**SHAPES, **MORE_SHAPES}
KINDS: dict[str, Callable[[str, list[Primitive]], Case]] = {
    "cut": lambda name, p: cut_case(name, p, max_edge=_edge(p, 60)),
    "holes": lambda name, p: cut_case(name, p, max_edge=_edge(p, 60), hole=0.01),
    "generated": lambda name, p: generated_case(name, p, seed=len(name)),
}


def _edge(primitives: list[Primitive], per_diagonal: int) -> float:
    import numpy as np

    bounds = np.vstack([p.mesh.bounds for p in primitives])
    return float(np.linalg.norm(np.ptp(bounds, axis=0))) / per_diagonal


def run_case(adapter_id: str, case: Case, params: dict[str, Any], work: Path) -> dict[str, Any]:
    from adapters.registry import SPECS
    from engine.contract.protocol import RunContext
    from engine.meshio.glb import write_glb

    spec = next(s for s in SPECS if s.feature == "part_completion" and s.id == adapter_id)
    source = write_glb(case.scene(), work / f"{case.name}.glb")
    adapter = spec.create()
    adapter.load("cpu")
    ctx = RunContext("bench", "cpu", work / f"{case.name}_{adapter_id}",
                     spec.parse_params(params if adapter_id == "volumetric" else {}),
                     lambda stage, fraction: None)
    reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    output = adapter.run([source], ctx)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_mb()
    glb = write_glb(output.mesh, ctx.out_dir / "result.glb")
    row = {"adapter": adapter_id, **measure(glb, case), "run_s": round(wall, 2),
           "run_cpu_s": round(cpu, 2), "peak_mb": peak, "warnings": output.warnings,
           "validator_errors": _validator_errors(glb)}
    return row


def _validator_errors(glb: Path) -> int | None:
    try:
        from tests.support.gltf_validator import GltfValidatorUnavailable, validate_glb
    except ImportError:
        return None
    try:
        return int(validate_glb(glb)["numErrors"])
    except GltfValidatorUnavailable:
        return None


def _line(row: dict[str, Any]) -> str:
    return (f"{row['adapter']:10s} {row['case']:26s} {row['input_faces']:>7d} faces: "
            f"closed {row['closed_parts']}/{row['parts']}  one piece "
            f"{row['one_piece_parts']}/{row['parts']}  IoU {row['iou']:.4f}  visible "
            f"{row['visible_mean']:.2e} (p99 {row['visible_p99']:.2e})  {row['run_s']:6.2f} s  "
            f"{row['peak_mb']} MiB  validator errors {row['validator_errors']}"
            + (f"  warnings: {row['warnings']}" if row["warnings"] else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", nargs="+", default=["volumetric", "fill_parts"])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--shapes", nargs="+", default=list(ALL_SHAPES),
                        choices=list(ALL_SHAPES))
    parser.add_argument("--param", nargs="*", default=[], metavar="KEY=VALUE",
                        help="volumetric adapter parameters, e.g. resolution=128")
    args = parser.parse_args(argv)
    params = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshsmith-parts-") as tmp:
        for kind in args.kinds:
            for shape in args.shapes:
                case = KINDS[kind](f"{kind}:{shape}", ALL_SHAPES[shape]())
                for adapter_id in args.adapters:
                    rows.append(run_case(adapter_id, case, params, Path(tmp)))
                    print(_line(rows[-1]), flush=True)
    print(json.dumps({
        "benchmark": "part_completion", "adapters": args.adapters, "kinds": args.kinds,
        "shapes": args.shapes, "params": params,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "results": rows,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
