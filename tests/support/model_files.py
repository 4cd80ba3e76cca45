"""Model files with side files, written the way other tools write them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

RED = (200, 30, 20)


def is_red(texture: Image.Image) -> bool:  # JPEG moves a colour by a step or two
    return bool(np.abs(np.asarray(texture.convert("RGB"))[1, 1].astype(int) - RED).max() <= 4)


def textured_box() -> trimesh.Trimesh:
    box = trimesh.creation.box()
    uv = np.random.default_rng(0).random((len(box.vertices), 2))
    image = Image.new("RGB", (8, 8), RED)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=image)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return box


def write_gltf(folder: Path) -> Path:
    """A .gltf whose buffer and texture are separate files beside it."""
    files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(textured_box()))
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    return folder / "model.gltf"


def edit_gltf(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def separate_image(path: Path) -> str:
    doc = json.loads(path.read_text())
    image = doc["images"][0]
    if "uri" in image:
        return image["uri"]
    # trimesh embeds images in the buffer; move it out to a file beside the model
    view = doc["bufferViews"][image.pop("bufferView")]
    buffer = (path.parent / doc["buffers"][view["buffer"]]["uri"]).read_bytes()
    start = view.get("byteOffset", 0)
    (path.parent / "colour map.png").write_bytes(buffer[start:start + view["byteLength"]])
    image["uri"] = "colour%20map.png"
    image.pop("mimeType", None)
    path.write_text(json.dumps(doc))
    return "colour map.png"


def write_obj(folder: Path, map_kd: str, texture_at: str | None, vt: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    box = trimesh.creation.box()
    lines = ["mtllib look.mtl", "usemtl skin"]
    lines += [f"v {x} {y} {z}" for x, y, z in box.vertices]
    lines += [vt or f"vt {u:.3f} {v:.3f}" for u, v in np.random.default_rng(1).random((8, 2))]
    lines += [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in box.faces]
    (folder / "spider.obj").write_text("\n".join(lines) + "\n")
    (folder / "look.mtl").write_text(f"newmtl skin\nKd 0.5 0.5 0.5\nmap_Kd {map_kd}\n")
    if texture_at is not None:
        target = folder / texture_at
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), RED).save(target)
    return folder / "spider.obj"


