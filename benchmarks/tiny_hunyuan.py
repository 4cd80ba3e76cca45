"""The tiny Hunyuan3D-2mini Turbo job on the CPU: how long the code path around the model takes
(hy3dgen's pipeline, post-processing, Meshsmith's normalisation), with random weights whose
shapes mean nothing. Real models are far larger; this measures the wrapping, not Hunyuan3D.

    .venv/bin/python benchmarks/tiny_hunyuan.py [--repeat 3] [--octree 32] [--steps 3]

Prints one line per run, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from adapters.hunyuan3d import HunyuanAdapter, HunyuanParams
    from engine.contract.protocol import RunContext
    from tests.adapters.hunyuan_models import build_hunyuan

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--octree", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    adapter = HunyuanAdapter()
    adapter.load("cpu")
    import_s = time.perf_counter() - started
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        model = build_hunyuan(Path(tmp), "hunyuan3d-2mini-turbo")
        picture = Path(tmp) / "ellipse.png"
        image = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
        ImageDraw.Draw(image).ellipse((24, 16, 104, 112), fill=(200, 60, 40, 255))
        image.save(picture)
        for i in range(args.repeat):
            params = HunyuanParams(model=str(model), steps=args.steps, seed=i,
                                   octree_resolution=args.octree, max_faces=2000)
            t0 = time.perf_counter()
            out = adapter.run([picture], RunContext("bench", "cpu", Path(tmp), params,
                                                    lambda s, f: None))
            runs.append({"seconds": round(time.perf_counter() - t0, 3),
                         "faces": len(out.mesh.faces)})
            print(f"run {i}: {runs[-1]['seconds']} s, {runs[-1]['faces']} faces", flush=True)
    print(json.dumps({"model": "tiny hunyuan3d-2mini-turbo (random weights)",
                      "steps": args.steps, "octree_resolution": args.octree,
                      "first_import_s": round(import_s, 3), "runs": runs,
                      "median_s": statistics.median(r["seconds"] for r in runs)}))


if __name__ == "__main__":
    main()
