"""Segmentation on soft-jointed creatures and on the crease cases, at the true part count and
with the count left to the adapter: mean IoU by area (Hungarian matching) and time.

    .venv/bin/python benchmarks/segmentation.py [--seeds 2 3 4]

Seeds 0 and 1 chose the constants (docs/benchmarks.md); the default seeds are held out.
Prints one line per case, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._creature_cases import CREATURES, creature, iou_matching
from benchmarks._part_cases import MORE_SHAPES, SHAPES, fused, true_labels

CREASE_CASES = [("chair", None, 0), ("chair", 0.05, 0), ("figure", None, 0),
                ("figure", 0.05, 20), ("mug", None, 0), ("t_bar", None, 0),
                ("dumbbell", 0.05, 20), ("table", None, 0), ("snowman", None, 0),
                ("l_pipe", None, 0)]


def cases(seeds: list[int]) -> Iterator[tuple[str, str, object, np.ndarray]]:
    import trimesh

    for name in CREATURES:
        for seed in seeds:
            c = creature(name, seed)
            yield "creature", c.name, c.mesh, c.labels
    for name, max_edge, smoothing in CREASE_CASES:
        prims = (MORE_SHAPES.get(name) or SHAPES[name])()
        mesh = fused(prims, max_edge)
        truth = true_labels(mesh, prims)
        if smoothing:
            trimesh.smoothing.filter_taubin(mesh, iterations=smoothing)
        yield "crease", f"{name}/{max_edge or 'plain'}/s{smoothing}", mesh, truth


def main() -> None:
    from adapters.segmentation import segment_mesh

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 4])
    args = parser.parse_args()
    rows = []
    for kind, name, mesh, truth in cases(args.seeds):
        k = int(truth.max()) + 1
        start = time.perf_counter()
        given = segment_mesh(mesh, k).labels
        given_s = time.perf_counter() - start
        auto = segment_mesh(mesh, None).labels
        row = {"kind": kind, "case": name, "faces": len(mesh.faces), "parts": k,
               "iou": float(iou_matching(given, truth, mesh.area_faces)[0].mean()),
               "auto_parts": int(auto.max()) + 1,
               "auto_iou": float(iou_matching(auto, truth, mesh.area_faces)[0].mean()),
               "seconds": round(given_s, 2)}
        rows.append(row)
        print(f"{kind:8s} {name:22s} {row['faces']:6d} faces  k={k:2d} IoU {row['iou']:.3f}  "
              f"auto k={row['auto_parts']:2d} IoU {row['auto_iou']:.3f}  {given_s:.2f} s",
              flush=True)
    summary = {}
    for kind in ("creature", "crease"):
        mine = [r for r in rows if r["kind"] == kind]
        summary[kind] = {
            "mean_iou": round(float(np.mean([r["iou"] for r in mine])), 3),
            "at_least_0.85": sum(r["iou"] >= 0.85 for r in mine), "cases": len(mine),
            "auto_count_right": sum(r["auto_parts"] == r["parts"] for r in mine),
            "mean_seconds": round(float(np.mean([r["seconds"] for r in mine])), 2)}
    print(json.dumps({"seeds": args.seeds, **summary, "cases": rows}))


if __name__ == "__main__":
    main()
