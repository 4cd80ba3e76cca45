"""Result building, in one place: adapter output -> GLB, thumbnail, stats, output list."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trimesh

from engine.contract.protocol import AdapterOutput
from engine.errors import ErrorCode, MeshsmithError
from engine.meshio import reader as meshio
from engine.meshio.glb import write_glb
from engine.meshio.surface import flat_reason
from engine.meshio.thumbnail import render_thumbnail

log = logging.getLogger(__name__)
PRIMARY_NAME = "result.glb"
THUMBNAIL_NAME = "thumbnail.png"
# a few letters that say what a job did, so results of one input tell themselves apart
_FEATURE_TAGS = {
    "text_to_raw_mesh": "mesh", "text_to_textured_mesh": "textured",
    "image_to_raw_mesh": "mesh", "image_to_textured_mesh": "textured",
    "text_mesh_painting": "painted", "image_mesh_painting": "painted",
    "mesh_segmentation": "parts", "part_completion": "completed", "auto_rig": "rigged",
    "mesh_retopology": "retopo", "uv_unwrapping": "uv",
}
_MAX_STEM = 80


def result_name(feature: str, inputs: Sequence[str | Path], params: dict[str, Any]) -> str:
    """The primary GLB's file name, after the input and the job: ``wuson_retopo_5k.glb``.

    Staged inputs keep their original stem (engine.meshio.staging), so the first input names
    the result; a text job is named after the first words of its prompt."""
    if inputs:
        stem = Path(inputs[0]).stem
    else:
        stem = "_".join(re.findall(r"\w+", str(params.get("prompt") or ""))[:4]) or "result"
    parts = [stem, _FEATURE_TAGS.get(feature, feature)]
    target = params.get("target_faces")
    if isinstance(target, int) and not isinstance(target, bool) and target > 0:
        parts.append(f"{target // 1000}k" if target % 1000 == 0 else str(target))
    name = re.sub(r"[^\w.-]+", "_", "_".join(parts)).strip("._")[:_MAX_STEM]
    if not name or name == Path(THUMBNAIL_NAME).stem:
        name = "result"
    return f"{name}.glb"


def build_outputs(output: AdapterOutput, out_dir: Path,
                  name: str = PRIMARY_NAME) -> dict[str, Any]:
    """Write the primary GLB (``name``: see ``result_name``) and thumbnail; return the
    result fields the worker knows."""
    if not isinstance(output, AdapterOutput):
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID, "The adapter returned no mesh.")
    flat = flat_reason(output.mesh)
    if flat:  # checked before anything is written: such a result is not a success
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID,
                             f"The result has no surface: {flat}, so it was not kept.")
    out_dir.mkdir(parents=True, exist_ok=True)
    glb = write_glb(output.mesh, out_dir / name, skin=output.skin)
    # Stats come from reading the file back, so they describe what the artist actually gets.
    written = meshio.load_mesh(glb)
    outputs = [{"role": "mesh", "path": str(glb), "media_type": "model/gltf-binary"}]
    thumbnail = _thumbnail(output.mesh, out_dir / THUMBNAIL_NAME)
    if thumbnail:
        outputs.append({"role": "thumbnail", "path": str(thumbnail), "media_type": "image/png"})
    for extra in output.extra_outputs:
        path = Path(extra.path).resolve()
        if not path.is_file() or out_dir.resolve() not in path.parents:
            raise MeshsmithError(ErrorCode.OUTPUT_INVALID,
                                 f"The adapter listed an output that is missing: {path.name}.")
        outputs.append({"role": extra.role, "path": str(path), "media_type": extra.media_type})
    stats = {"vertices": len(written.vertices), "faces": len(written.faces)}
    stats.update(output.stats)
    return {
        "output_file_path": str(glb),
        "outputs": outputs,
        "thumbnail_path": str(thumbnail) if thumbnail else None,
        "stats": stats,
        "warnings": [str(w) for w in output.warnings],
    }


def _thumbnail(geometry: trimesh.Trimesh | trimesh.Scene, path: Path) -> Path | None:
    # A missing thumbnail must not throw away a good mesh: log it and go on.
    try:
        return render_thumbnail(geometry, path)
    except Exception as exc:
        log.warning("thumbnail failed: %s", exc)
        return None
