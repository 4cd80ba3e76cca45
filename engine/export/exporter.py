"""Export a job's result GLB to what other tools read: GLB, glTF + bin, OBJ + MTL + textures,
PLY, STL and USDZ, with a scale, an up axis and, if asked, node transforms baked in.

Every export is written into a hidden folder beside its destination, read back and checked
there (counts, bounds, skins; USDZ by usd-core's compliance checker) and only then moved into
place, so a failed export never leaves a file that looks finished.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ErrorCode, MeshsmithError
from engine.export import check as export_check
from engine.export.gltf import split_gltf, wrapped_glb
from engine.jobs import JobState
from engine.meshio.glb import write_glb
from engine.meshio.quads import quads_of
from engine.meshio.skin import _read_glb  # the one GLB container reader
from engine.storage.jobstore import JobStore

log = logging.getLogger(__name__)
ExportFormat = Literal["glb", "gltf", "obj", "ply", "stl", "usdz"]
FORMATS: tuple[str, ...] = ("glb", "gltf", "obj", "ply", "stl", "usdz")
FORMAT_LABELS = {
    "glb": "glTF binary (.glb)", "gltf": "glTF + bin (.gltf)", "obj": "Wavefront OBJ + MTL (.obj)",
    "ply": "Stanford PLY (.ply)", "stl": "STL (.stl)", "usdz": "USDZ (.usdz)",
}
# Y-up (glTF's convention) to Z-up (Blender's, 3ds Max's): (x, y, z) -> (x, -z, y), exactly.
_Y_TO_Z = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: ExportFormat = "glb"
    scale: float = Field(1.0, gt=0, le=1e6)
    up: Literal["y", "z"] = "y"
    apply_transforms: bool = False

    def matrix(self) -> np.ndarray:
        """The export transform applied on top of the scene (column vectors)."""
        matrix = _Y_TO_Z.copy() if self.up == "z" else np.eye(4)
        matrix[:3, :3] *= self.scale
        return matrix

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.up == "y"


class ExportResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str | None = None
    format: ExportFormat
    path: str  # the primary file
    files: list[str]  # every file written, the primary first
    parts: int
    vertices: int
    faces: int
    flattened: bool = False  # parts merged, hierarchy or skin dropped
    notes: list[str] = Field(default_factory=list)  # what the format could not keep, and why
    checks: list[str] = Field(default_factory=list)  # what was verified after reading it back


def export_job(store: JobStore, job_id: str, out_dir: Path, options: ExportOptions,
               *, stem: str | None = None) -> ExportResult:
    """Export job ``job_id``'s result into ``out_dir`` as ``<feature>-<job_id>.<format>``."""
    job = store.get(job_id)
    if job is None:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, f"There is no job {job_id} in the history.")
    path = job.result.output_file_path if job.result else None
    if job.state is not JobState.SUCCEEDED or not path:
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"Job {job_id} {job.state.value}, so it has no result to export.")
    dest = Path(out_dir) / f"{stem or f'{job.spec.feature}-{job_id}'}.{options.format}"
    result = export_file(Path(path), dest, options)
    return result.model_copy(update={"job_id": job_id})


def export_file(source: Path, dest: Path, options: ExportOptions) -> ExportResult:
    """Write ``source`` (a GLB) as ``dest`` and its side files, checked before they land."""
    if not source.is_file():
        raise MeshsmithError(ErrorCode.INVALID_INPUT, f"The result file {source} is missing.")
    dest = dest.with_suffix(f".{options.format}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".meshsmith-export-", dir=dest.parent))
    except OSError as exc:
        raise _write_error(dest, exc) from None
    try:
        files, result = _write_and_check(source, work / dest.name, options)
        for name in files:  # the checked set lands together; the primary last
            os.replace(work / name, dest.parent / name)
    except (MeshsmithError, KeyboardInterrupt):
        raise
    except OSError as exc:
        raise _write_error(dest, exc) from None
    except Exception as exc:  # a writer's own failure: one sentence, the details in the log
        log.error("exporting %s as %s failed", source, options.format, exc_info=True)
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID,
                             f"The {options.format.upper()} export failed ({exc}).") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    written = [str(dest.parent / name) for name in [files[-1], *files[:-1]]]
    return result.model_copy(update={"path": str(dest), "files": written})


def _write_and_check(source: Path, dest: Path, options: ExportOptions
                     ) -> tuple[list[str], ExportResult]:
    """Returns the file names written (the primary last) and the checked result."""
    data = source.read_bytes()
    doc, binary = _read_glb(data)
    skinned = bool(doc.get("skins"))
    scene = trimesh.load_scene(source, file_type="glb", process=False)
    expected = export_check.measure_scene(scene, options.matrix())
    notes: list[str] = []
    fmt = options.format
    if fmt in ("glb", "gltf"):
        if options.apply_transforms and skinned:
            notes.append("The skinned mesh was baked; the joints keep their transforms, "
                         "since an armature is made of them.")
        if options.apply_transforms and not skinned:
            glb = _baked_glb(scene, options.matrix(), dest)
        else:
            glb = data if options.identity else wrapped_glb(data, options.matrix())
        files = split_gltf(glb, dest) if fmt == "gltf" else _write_bytes(dest, glb)
        checks = export_check.check_gltf(dest, expected, source=(doc, binary),
                                         matrix=options.matrix())
        flattened = False
    elif fmt == "usdz":
        from engine.export.usd import check_usdz, write_usdz  # heavy: load it only when asked

        files, usd_notes = write_usdz(scene, dest, options)
        notes += usd_notes
        if skinned:
            notes.append("USDZ gets the mesh in its rest pose; the armature stays in GLB/glTF.")
        checks = check_usdz(dest, expected, up=options.up)
        flattened = skinned
    else:
        meshes = _baked_meshes(scene, options.matrix())
        files, written, notes = _write_flat(meshes, dest, fmt, skinned)
        # counts as written (parts merged, unused vertices dropped); bounds from the source
        expected = export_check.measure_meshes(written, bounds=expected.bounds)
        checks = export_check.check_flat(dest, fmt, expected, written)
        flattened = True
    result = ExportResult(format=fmt, path=str(dest), files=files, parts=expected.parts,
                          vertices=expected.vertices, faces=expected.faces,
                          flattened=flattened, notes=notes, checks=checks)
    return files, result


# ---- glTF ------------------------------------------------------------------------------
def _baked_glb(scene: trimesh.Scene, matrix: np.ndarray, dest: Path) -> bytes:
    """Every node's world transform (and the export transform) baked into its vertices."""
    baked = trimesh.Scene()
    for name, mesh in _baked_meshes(scene, matrix):
        baked.add_geometry(mesh, node_name=name, geom_name=name)
    tmp = dest.with_name(f".{dest.stem}.baked.glb")
    write_glb(baked, tmp)  # the one GLB writer: unit normals, finite vertices
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _write_bytes(path: Path, data: bytes) -> list[str]:
    path.write_bytes(data)
    return [path.name]


# ---- OBJ, PLY, STL -------------------------------------------------------------------------
def _baked_meshes(scene: trimesh.Scene, matrix: np.ndarray) -> list[tuple[str, trimesh.Trimesh]]:
    """(node name, mesh in export space) for every node holding triangles, in name order."""
    meshes = []
    for node in sorted(scene.graph.nodes_geometry):
        transform, geom = scene.graph[node]
        mesh = scene.geometry.get(geom)
        if not isinstance(mesh, trimesh.Trimesh) or not len(mesh.faces):
            continue
        mesh = mesh.copy()
        mesh.apply_transform(matrix @ transform)
        mesh.remove_unreferenced_vertices()  # a reader drops them; counts must still agree
        mesh.metadata["name"] = node
        meshes.append((node, mesh))
    if not meshes:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, "The result holds no triangles to export.")
    return meshes


def _write_flat(meshes: list[tuple[str, trimesh.Trimesh]], dest: Path, fmt: str, skinned: bool
                ) -> tuple[list[str], list[trimesh.Trimesh], list[str]]:
    notes = []
    if skinned:
        notes.append(f"{fmt.upper()} cannot hold an armature: the mesh is in its rest pose.")
    if fmt == "obj":
        if len(meshes) > 1:
            notes.append(f"The {len(meshes)} parts are separate OBJ objects with their "
                         "transforms baked in; the node hierarchy is gone.")
        return _write_obj([m for _, m in meshes], dest), [m for _, m in meshes], notes
    if len(meshes) > 1:
        notes.append(f"The {len(meshes)} parts were merged into one mesh: "
                     f"{fmt.upper()} holds a single mesh.")
    if fmt == "ply":
        textured = [m for _, m in meshes if isinstance(m.visual, trimesh.visual.TextureVisuals)]
        for mesh in textured:
            mesh.visual = mesh.visual.to_color()  # PLY has no textures: keep the look
        if textured:
            notes.append("The texture was sampled into vertex colours.")
        parts = [m for _, m in meshes]
        merged = trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]
    else:
        merged = trimesh.util.concatenate([trimesh.Trimesh(m.vertices, m.faces, process=False)
                                           for _, m in meshes])
        notes.append("STL holds triangles only: UVs, materials and colours are not kept.")
    dest.write_bytes(merged.export(file_type=fmt))
    return [dest.name], [merged], notes


def _write_obj(meshes: list[trimesh.Trimesh], dest: Path) -> list[str]:
    """OBJ + MTL + textures; texture files are prefixed with the OBJ's name so two exports
    into one folder never overwrite each other's images."""
    scene = trimesh.Scene()
    for mesh in meshes:
        scene.add_geometry(mesh, node_name=mesh.metadata["name"])
    mtl_name = f"{dest.stem}.mtl"
    text, extra = trimesh.exchange.obj.export_obj(
        scene, include_normals=True, include_texture=True, return_texture=True,
        mtl_name=mtl_name)
    text = _obj_with_quads(text, scene)
    renamed = {name: f"{dest.stem}_{name}" for name in extra if not name.endswith(".mtl")}
    names = []
    for name, blob in extra.items():
        if name == mtl_name:
            lines = blob.decode().splitlines()
            for i, line in enumerate(lines):
                key, _, value = line.partition(" ")
                if key.startswith("map_") and value.strip() in renamed:
                    lines[i] = f"{key} {renamed[value.strip()]}"
            blob = ("\n".join(lines) + "\n").encode()
        out = renamed.get(name, name)
        _write_bytes(dest.with_name(out), blob)
        names.append(out)
    _write_bytes(dest, text.encode())
    return [*names, dest.name]


def _obj_with_quads(text: str, scene: trimesh.Scene) -> str:
    """OBJ holds polygons: a quad remesh's paired triangles (engine.meshio.quads) leave as
    the quads they are, so Blender and other DCCs open the quad topology the job made."""
    quads = {f"o {name}": len(q) for name, mesh in scene.geometry.items()
             if (q := quads_of(mesh)) is not None}
    if not quads:
        return text
    out: list[str] = []
    pairs, pending = 0, None  # quads left to write in the current object; a first half
    for line in text.splitlines():
        if line.startswith("o "):
            pairs, pending = quads.get(line.strip(), 0), None
        elif line.startswith("f ") and pairs:
            if pending is None:  # a b c: hold it for its partner c d a
                pending = line.split()[1:]
                continue
            corners = line.split()[1:]  # c d a
            line = "f " + " ".join([*pending, corners[1]])
            pairs, pending = pairs - 1, None
        out.append(line)
    return "\n".join(out) + "\n"


def _write_error(dest: Path, exc: OSError) -> MeshsmithError:
    if exc.errno == 28:  # ENOSPC
        return MeshsmithError(ErrorCode.DISK_FULL,
                              f"The disk holding {dest.parent} is full, so nothing was exported.")
    reason = (exc.strerror or str(exc)).rstrip(".")
    return MeshsmithError(ErrorCode.INVALID_INPUT, f"Could not write {dest}: {reason}.")
