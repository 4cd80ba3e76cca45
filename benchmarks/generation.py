"""Image-to-3D benchmark: the ``inflate`` adapter on 256, 512 and 1024 px pictures.

Each picture is a stylised dog (body, head, four thin legs, a tail) drawn at the given size,
on a white background (GrabCut cut-out) and on a transparent one (alpha cut-out). The adapter
runs in this process exactly as a worker runs it (``load`` once, then ``run`` with a
RunContext), followed by the engine's own result writing (GLB, read-back, thumbnail). A stage
lasts from its progress report to the next one. Medians over ``--repeat`` runs.

    .venv/bin/python benchmarks/generation.py [--sizes 256 512 1024] [--repeat 3] [--resolution 256]

Prints one line per case, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.inflate import InflateAdapter, InflateParams, InflateTexturedParams
from engine.contract.protocol import RunContext
from engine.workers.results import build_outputs


def dog(size: int, transparent: bool) -> Image.Image:
    """The test suite's stylised animal, scaled to ``size`` pixels."""
    picture = Image.new("RGBA", (size, size), (0, 0, 0, 0)) if transparent else \
        Image.new("RGB", (size, size), (255, 255, 255))
    draw, s, fur = ImageDraw.Draw(picture), size / 512, (120, 80, 40)
    draw.ellipse([140 * s, 180 * s, 380 * s, 300 * s], fill=fur)
    draw.ellipse([340 * s, 120 * s, 440 * s, 210 * s], fill=fur)
    draw.polygon([(350 * s, 140 * s), (365 * s, 95 * s), (380 * s, 135 * s)], fill=fur)
    for x in (170, 220, 300, 345):
        draw.rectangle([x * s, 270 * s, (x + 12) * s, 420 * s], fill=fur)
    draw.polygon([(150 * s, 220 * s), (60 * s, 150 * s), (68 * s, 142 * s), (158 * s, 210 * s)],
                 fill=fur)
    draw.ellipse([400 * s, 150 * s, 412 * s, 162 * s], fill=(20, 20, 20))
    return picture


def run_once(adapter: InflateAdapter, picture: Path, params, out_dir: Path) -> dict:
    marks: list[tuple[str, float]] = []
    ctx = RunContext("bench", "cpu", out_dir, params,
                     lambda stage, fraction: marks.append((stage, time.perf_counter())))
    started = time.perf_counter()
    output = adapter.run([picture], ctx)
    marks.append(("writing the result", time.perf_counter()))
    result = build_outputs(output, out_dir)
    ended = time.perf_counter()
    stages = {stage: marks[i + 1][1] - at if i + 1 < len(marks) else ended - at
              for i, (stage, at) in enumerate(marks)}
    return {"stages": stages, "total_s": ended - started, "faces": result["stats"]["faces"],
            "vertices": result["stats"]["vertices"]}


def median_run(runs: list[dict]) -> dict:
    stages = {name: round(statistics.median(r["stages"][name] for r in runs), 4)
              for name in runs[0]["stages"]}
    return {"stages_s": stages, "total_s": round(statistics.median(r["total_s"] for r in runs), 4),
            "faces": runs[0]["faces"], "vertices": runs[0]["vertices"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=InflateParams().resolution,
                        help="grid cells across the object (the adapter's parameter)")
    args = parser.parse_args()
    adapter = InflateAdapter()
    load_started = time.perf_counter()
    adapter.load("cpu")
    report: dict = {"adapter": "inflate", "load_s": round(time.perf_counter() - load_started, 4),
                    "repeat": args.repeat, "resolution": args.resolution, "cpu": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for background in ("white", "transparent"):
                picture = Path(tmp) / f"dog_{size}_{background}.png"
                dog(size, background == "transparent").save(picture)
                for feature, params in (
                        ("image_to_textured_mesh", InflateTexturedParams(resolution=args.resolution)),
                        ("image_to_raw_mesh", InflateParams(resolution=args.resolution))):
                    runs = [run_once(adapter, picture, params, Path(tmp) / f"out{i}")
                            for i in range(args.repeat)]
                    case = median_run(runs)
                    key = f"{size}px/{background}/{feature}"
                    report["cases"][key] = case
                    print(f"{key}: {case['total_s']:.3f} s, {case['faces']} faces, "
                          f"stages {case['stages_s']}", flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
