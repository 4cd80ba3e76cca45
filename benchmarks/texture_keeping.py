"""What retopology and UV unwrapping keep, and what it costs: surface colour error against
the input's known texture, geometric error, faces reached and wall time.

Inputs are built here: a photo-textured latitude-longitude sphere (~80k faces) and a CAD-like
assembly (~110k faces, 98 parts, in millimetres: ×1000). ``fast_simplification`` (the
decimator before this change) runs on the welded geometry as the adapter used to.

    .venv/bin/python benchmarks/texture_keeping.py

Prints one line per case, then one JSON object as the last line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.decimate import DecimateAdapter, DecimateParams
from adapters.instant_meshes import InstantMeshesAdapter, InstantMeshesParams
from adapters.xatlas_uv import XatlasAdapter, XatlasParams
from engine.contract.protocol import RunContext
from engine.meshio.glb import write_glb
from tests.support.textured_meshes import cad_assembly, surface_colour_error, textured_sphere


def _adapter(adapter: Any, params: Any, path: Path, out: Path) -> tuple[Any, float]:
    adapter.load("cpu")
    ctx = RunContext("bench", "cpu", out, params, lambda stage, fraction: None)
    start = time.perf_counter()
    result = adapter.run([path], ctx)
    return result, time.perf_counter() - start


def _fast_simplification(mesh: Any, target: int) -> tuple[Any, float]:
    import fast_simplification
    import trimesh

    from adapters._shared.repair import weld

    start = time.perf_counter()
    diagonal = float(np.linalg.norm(np.ptp(mesh.vertices, axis=0)))
    v, f, _ = weld(np.asarray(mesh.vertices), np.asarray(mesh.faces), 1e-8 * diagonal)
    v, f = fast_simplification.simplify(v, f.astype(np.int32), target_count=target)
    return trimesh.Trimesh(v, f, process=False), time.perf_counter() - start


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="texture-keeping-"))
    sphere = textured_sphere(80_000)
    write_glb(sphere, work / "sphere.glb")
    cases = {
        "decimate_5000": (DecimateAdapter(), DecimateParams(target_faces=5000)),
        "decimate_5000_new_topology": (
            DecimateAdapter(), DecimateParams(target_faces=5000, allow_topology_changes=True)),
        "instant_meshes_5000": (InstantMeshesAdapter(), InstantMeshesParams(target_faces=5000)),
        "xatlas": (XatlasAdapter(), XatlasParams()),
    }
    results: dict[str, Any] = {"sphere_faces": len(sphere.faces)}
    old, seconds = _fast_simplification(sphere, 5000)
    results["fast_simplification_5000"] = {"faces": len(old.faces), "wall_s": round(seconds, 3),
                                           "colour_error": round(surface_colour_error(
                                               sphere, _untextured(old)).mean, 2)}
    print("fast_simplification_5000", results["fast_simplification_5000"], flush=True)
    for name, (adapter, params) in cases.items():
        out, seconds = _adapter(adapter, params, work / "sphere.glb", work / name)
        score = surface_colour_error(sphere, out.mesh)
        results[name] = {"faces": len(out.mesh.faces), "wall_s": round(seconds, 3),
                         "colour_error": round(score.mean, 2),
                         "colour_error_p90": round(score.p90, 2),
                         "geometry_error": round(score.geometry, 6)}
        print(name, results[name], flush=True)
    results["cad"] = _cad(work)
    print(json.dumps(results))


def _untextured(mesh: Any) -> Any:
    import trimesh

    material = trimesh.visual.material.PBRMaterial(baseColorFactor=[204, 204, 204, 255])
    mesh.visual = trimesh.visual.TextureVisuals(material=material)
    return mesh


def _cad(work: Path) -> dict[str, Any]:
    cad = cad_assembly()
    cad.apply_scale(1000.0)  # millimetres, as CAD exports are
    write_glb(cad, work / "cad.glb")
    old, seconds = _fast_simplification(cad, 5000)
    out = {"faces": len(cad.faces), "fast_simplification_5000": len(old.faces),
           "fast_simplification_s": round(seconds, 3)}
    for target, free in ((5000, False), (300, False), (300, True)):
        params = DecimateParams(target_faces=target, allow_topology_changes=free)
        result, seconds = _adapter(DecimateAdapter(), params, work / "cad.glb", work / "cad")
        key = f"decimate_{target}" + ("_new_topology" if free else "")
        out[key] = {"faces": len(result.mesh.faces), "wall_s": round(seconds, 3),
                    "warnings": result.warnings}
        print(key, out[key], flush=True)
    return out


if __name__ == "__main__":
    main()
