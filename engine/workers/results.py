"""Result building, in one place: adapter output -> GLB, thumbnail, stats, output list."""

from __future__ import annotations

import logging
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


def build_outputs(output: AdapterOutput, out_dir: Path) -> dict[str, Any]:
    """Write the primary GLB and thumbnail; return the result fields the worker knows."""
    if not isinstance(output, AdapterOutput):
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID, "The adapter returned no mesh.")
    flat = flat_reason(output.mesh)
    if flat:  # checked before anything is written: such a result is not a success
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID,
                             f"The result has no surface: {flat}, so it was not kept.")
    out_dir.mkdir(parents=True, exist_ok=True)
    glb = write_glb(output.mesh, out_dir / PRIMARY_NAME, skin=output.skin)
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
