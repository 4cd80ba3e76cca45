"""Read an export back and compare it with what was meant to be written.

The comparison is as strict as the format allows: glTF, OBJ and PLY must give back the exact
vertex and face counts; STL keeps no shared vertices, so it must give back the faces and the
same set of corner positions (in float32, what STL stores). Every format must land in the
bounds the source takes after the export transform. A mismatch is an OUTPUT_INVALID error with
one sentence, and the export is not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import trimesh

from engine.errors import ErrorCode, MeshsmithError
from engine.export.gltf import read_document, rest_products


@dataclass(frozen=True)
class Measure:
    parts: int
    vertices: int
    faces: int
    bounds: np.ndarray  # (2, 3): min and max corner

    def describe(self) -> str:
        return f"{self.parts} part(s), {self.vertices:,} vertices, {self.faces:,} faces"


def measure_scene(scene: trimesh.Scene, matrix: np.ndarray | None = None) -> Measure:
    """Parts, counts and world bounds of every node holding triangles (after ``matrix``)."""
    matrix = np.eye(4) if matrix is None else matrix
    parts = vertices = faces = 0
    lows, highs = [], []
    for node in scene.graph.nodes_geometry:
        transform, geom = scene.graph[node]
        mesh = scene.geometry.get(geom)
        if not isinstance(mesh, trimesh.Trimesh) or not len(mesh.faces):
            continue
        parts, vertices, faces = parts + 1, vertices + len(mesh.vertices), faces + len(mesh.faces)
        points = trimesh.transform_points(np.asarray(mesh.vertices), matrix @ transform)
        lows.append(points.min(axis=0))
        highs.append(points.max(axis=0))
    if not parts:
        return Measure(0, 0, 0, np.zeros((2, 3)))
    return Measure(parts, vertices, faces, np.array([np.min(lows, 0), np.max(highs, 0)]))


def measure_meshes(meshes: list[trimesh.Trimesh], *, bounds: np.ndarray | None = None) -> Measure:
    """Counts of what a flat format was given; ``bounds`` overrides the meshes' own."""
    own = np.array([np.min([m.bounds[0] for m in meshes], 0),
                    np.max([m.bounds[1] for m in meshes], 0)])
    return Measure(len(meshes), sum(len(m.vertices) for m in meshes),
                   sum(len(m.faces) for m in meshes), own if bounds is None else bounds)


def check_bounds(label: str, got: np.ndarray, expected: np.ndarray) -> str:
    diagonal = float(np.linalg.norm(expected[1] - expected[0]))
    tolerance = 1e-4 * max(diagonal, 1e-6)  # float32 storage and 8-digit text both fit
    error = float(np.abs(np.asarray(got) - expected).max())
    if not error <= tolerance:
        raise _invalid(f"The {label} export lands in the wrong place or size (off by "
                       f"{error:.3g}), so it was not saved.")
    size = " × ".join(f"{v:.4g}" for v in expected[1] - expected[0])
    return f"bounds match ({size})"


def check_counts(label: str, got: Measure, expected: Measure, *, parts: bool = True) -> str:
    pairs = [("vertices", got.vertices, expected.vertices), ("faces", got.faces, expected.faces)]
    if parts:
        pairs.insert(0, ("parts", got.parts, expected.parts))
    for what, have, want in pairs:
        if have != want:
            raise _invalid(f"The {label} export read back with {have:,} {what} instead of "
                           f"{want:,}, so it was not saved.")
    return f"read back with trimesh: {got.describe()}"


def check_gltf(path: Path, expected: Measure, *, source: tuple[dict, bytes],
               matrix: np.ndarray) -> list[str]:
    label = "GLB" if path.suffix == ".glb" else "glTF"
    got = measure_scene(_load(path, label))
    checks = [check_counts(label, got, expected), check_bounds(label, got.bounds, expected.bounds)]
    try:
        doc, binary = read_document(path)
    except (OSError, ValueError) as exc:
        raise _invalid(f"The {label} export's buffer could not be read back ({exc}), "
                       "so it was not saved.") from exc
    source_doc = source[0]
    want = [len(s.get("joints", [])) for s in source_doc.get("skins", [])]
    if [len(s.get("joints", [])) for s in doc.get("skins", [])] != want:
        raise _invalid(f"The {label} export lost its skin, so it was not saved.")
    if want:
        # trimesh ignores skins, so check the bind pose itself: world · inverse bind per joint
        before = matrix @ rest_products(*source) @ np.linalg.inv(matrix)
        if not np.allclose(rest_products(doc, binary), before, atol=1e-4):
            raise _invalid(f"The {label} export moved the skin away from its mesh, "
                           "so it was not saved.")
        checks.append(f"{len(want)} skin(s) with {sum(want)} joint(s) kept in their bind pose")
    if len(doc.get("images", [])) < len(source_doc.get("images", [])):
        raise _invalid(f"The {label} export lost textures, so it was not saved.")
    return checks


def check_flat(path: Path, fmt: str, expected: Measure,
               written: list[trimesh.Trimesh]) -> list[str]:
    label = fmt.upper()
    got = measure_scene(_load(path, label))
    if fmt == "stl":
        # STL stores each triangle's three corners apart: compare faces and corner positions
        corners = np.unique(np.concatenate(
            [m.vertices[np.unique(m.faces)] for m in written]).astype(np.float32), axis=0)
        reread = trimesh.load_mesh(path, file_type="stl", process=False)
        positions = np.unique(np.asarray(reread.vertices, dtype=np.float32), axis=0)
        got = replace(got, vertices=len(positions))
        expected = replace(expected, vertices=len(corners))
    # an OBJ reader splits objects by material: compare totals, not the object count
    checks = [check_counts(label, got, expected, parts=False),
              check_bounds(label, got.bounds, expected.bounds)]
    if fmt == "stl":
        checks[0] += " (distinct corner positions, as STL stores them)"
    if fmt == "obj":
        checks += _check_obj_sidecars(path)
    return checks


def _check_obj_sidecars(path: Path) -> list[str]:
    """Every material library and texture the OBJ names must lie beside it."""
    named = [line.split(maxsplit=1)[1].strip() for line in path.read_text().splitlines()
             if line.startswith("mtllib ")]
    textures = []
    for mtl in named:
        if not path.with_name(mtl).is_file():
            raise _invalid(f"The OBJ export's material file {mtl} is missing, so it was not saved.")
        textures += [line.split(maxsplit=1)[1].strip()
                     for line in path.with_name(mtl).read_text().splitlines()
                     if line.startswith("map_") and len(line.split(maxsplit=1)) == 2]
    for texture in textures:
        if not path.with_name(texture).is_file():
            raise _invalid(f"The OBJ export's texture {texture} is missing, so it was not saved.")
    return [f"{len(named)} material file(s) and {len(textures)} texture(s) beside it"] if named \
        else []


def _load(path: Path, label: str) -> trimesh.Scene:
    try:
        return trimesh.load_scene(path, process=False)
    except Exception as exc:
        raise _invalid(f"The {label} export could not be read back ({type(exc).__name__}), "
                       "so it was not saved.") from exc


def _invalid(message: str) -> MeshsmithError:
    return MeshsmithError(ErrorCode.OUTPUT_INVALID, message)
