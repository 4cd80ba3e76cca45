"""Quads kept in a triangulated GLB (engine.meshio.quads): written through the one GLB
writer, valid for the Khronos validator, read back as quads; extras that do not describe
the triangles are ignored rather than drawn wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from engine.meshio.glb import write_glb
from engine.meshio.quads import QUAD_PAIRS, pair_quads, paired_triangles, quads_of
from engine.meshio.scene import read_scene
from tests.support.gltf_validator import assert_valid_glb
from tests.support.quad_meshes import quad_grid, quad_mesh


def same_quads(found: np.ndarray, quads: np.ndarray) -> bool:
    """Equal up to where each quad starts (a quad split along b-d is read from b)."""
    if found.shape != quads.shape:
        return False
    return all(any(np.array_equal(np.roll(f, k), q) for k in range(4))
               for f, q in zip(found, quads, strict=True))


def test_each_quad_splits_along_its_shorter_diagonal_into_two_triangles_wound_like_it():
    # squashed along x: b-d (0.4) is shorter than a-c (2.0), so the split is b-d
    points = np.array([[-1.0, 0, 0], [0, -0.2, 0], [1.0, 0, 0], [0, 0.2, 0]])
    faces = paired_triangles(points, np.array([[0, 1, 2, 3]]))
    assert faces.tolist() == [[1, 2, 3], [3, 0, 1]]  # the diagonal is each one's edge 2 -> 0
    assert (trimesh.Trimesh(points, faces, process=False).face_normals[:, 2] > 0).all()
    assert same_quads(pair_quads(points, faces, 1), np.array([[0, 1, 2, 3]]))


def test_a_glb_keeps_its_quads_passes_the_validator_and_reads_them_back(tmp_path):
    points, quads = quad_grid()
    tris = np.array([[1, 0, 7]])  # one plain triangle after the pairs (any triangle will do)
    path = write_glb(quad_mesh(points, quads, tris), tmp_path / "quads.glb")
    assert_valid_glb(path)  # zero errors: extras are free-form JSON
    geometry = next(iter(read_scene(path).scene.geometry.values()))
    assert len(geometry.faces) == 2 * len(quads) + 1
    found = quads_of(geometry)
    assert found is not None and same_quads(found, quads)


def test_quads_survive_vertices_split_at_uv_seams(tmp_path):
    """A closed quad torus unwrapped by xatlas: seams split vertices, so the two halves of
    some quads no longer share vertex indices, only positions."""
    import xatlas

    from adapters._shared.bake import unwrap

    rows, cols = 8, 16
    u, w = np.meshgrid(np.linspace(0, 2 * np.pi, cols, endpoint=False),
                       np.linspace(0, 2 * np.pi, rows, endpoint=False))
    ring = 2 + 0.6 * np.cos(w.ravel())
    points = np.column_stack([ring * np.cos(u.ravel()), ring * np.sin(u.ravel()),
                              0.6 * np.sin(w.ravel())])
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    r, c = r.ravel(), c.ravel()
    at = lambda dr, dc: (r + dr) % rows * cols + (c + dc) % cols  # noqa: E731
    quads = np.column_stack([at(0, 0), at(0, 1), at(1, 1), at(1, 0)])
    faces = paired_triangles(points, quads)
    vertices, split, _uv = unwrap(xatlas, points, faces, 256)
    assert len(vertices) > len(points)  # there are seams
    found = pair_quads(vertices, split, len(quads))
    assert found is not None and len(found) == len(quads)
    np.testing.assert_array_equal(vertices[found], points[quads][np.arange(len(quads))[:, None],
                                                                  _starts(points, quads)])


def _starts(points: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Each quad's corners in the order pair_quads reads them back (from b after a b-d split)."""
    a, b, c, d = (points[quads[:, k]] for k in range(4))
    shift = (((a - c) ** 2).sum(axis=1) > ((b - d) ** 2).sum(axis=1)).astype(int)
    return (np.arange(4)[None, :] + shift[:, None]) % 4


@pytest.mark.parametrize("count", [None, 0, -3, True, 2.0, "36", 37, 10**9],
                         ids=["absent", "zero", "negative", "bool", "float", "text",
                              "one-too-many", "huge"])
def test_a_quad_count_that_is_not_a_sensible_number_means_no_quads(count):
    points, quads = quad_grid()  # 36 quads, 72 triangles
    faces = paired_triangles(points, quads)
    assert pair_quads(points, faces, count) is None


def test_extras_that_do_not_describe_the_triangles_are_ignored():
    points, quads = quad_grid()
    faces = paired_triangles(points, quads)
    assert pair_quads(points, faces, len(quads)) is not None
    # shifted by one triangle: each pair holds halves of two neighbouring quads
    assert pair_quads(points, np.roll(faces, 1, axis=0), len(quads)) is None
    plain = trimesh.creation.icosphere(1)  # a triangle mesh claiming to be quads
    plain.metadata[QUAD_PAIRS] = 10
    assert quads_of(plain) is None


def test_extras_shared_by_several_primitives_are_not_trusted(tmp_path):
    points, quads = quad_grid()
    mesh = quad_mesh(points, quads, np.zeros((0, 3), dtype=np.int64))
    mesh.metadata["from_gltf_primitive"] = True  # what trimesh sets for a multi-primitive mesh
    assert quads_of(mesh) is None


def test_a_mesh_without_extras_has_no_quads(tmp_path):
    path = write_glb(trimesh.creation.box(), tmp_path / "box.glb")
    geometry = next(iter(read_scene(path).scene.geometry.values()))
    assert quads_of(geometry) is None


def _obj_polygons(path) -> list[list[str]]:
    return [line.split()[1:] for line in path.read_text().splitlines() if line.startswith("f ")]


@pytest.mark.parametrize("apply", [False, True], ids=["as-is", "transforms-applied"])
def test_an_obj_export_writes_a_quad_remesh_as_quads_and_its_triangles_as_triangles(tmp_path,
                                                                                    apply):
    from engine.export.exporter import ExportOptions, export_file

    points, quads = quad_grid()  # 36 quads
    tris = np.array([[0, 8, 16]])  # and one plain triangle after them
    glb = write_glb(quad_mesh(points, quads, tris), tmp_path / "remesh.glb")
    result = export_file(glb, tmp_path / "out" / "remesh.obj",
                         ExportOptions(format="obj", scale=2.0, up="z", apply_transforms=apply))
    polygons = _obj_polygons(Path(result.path))
    assert [len(p) for p in polygons] == [4] * 36 + [3]
    # each quad is the grid's quad (same corners, same winding), whatever diagonal split it
    v = np.array([[float(x) for x in line.split()[1:4]] for line in
                  Path(result.path).read_text().splitlines() if line.startswith("v ")])
    corner = {tuple(np.round(p, 6)): i for i, p in enumerate(points)}
    back = v @ np.diag([0.5, 0.5, 0.5])  # undo the scale; z-up maps (x, y, z) to (x, -z, y)
    back = np.column_stack([back[:, 0], back[:, 2], -back[:, 1]])
    written = {tuple(np.roll([corner[tuple(np.round(back[int(t.split("/")[0]) - 1], 6))]
                              for t in poly], -k)) for poly in polygons[:36] for k in range(4)}
    assert all(tuple(q) in written for q in quads.tolist())
    assert result.faces == 73 and trimesh.load(result.path, process=False).faces.shape == (73, 3)


def test_an_obj_export_of_triangles_claiming_to_be_quads_stays_triangles(tmp_path):
    from engine.export.exporter import ExportOptions, export_file

    plain = trimesh.creation.icosphere(1)
    plain.metadata[QUAD_PAIRS] = 10  # the halves do not share diagonals
    glb = write_glb(plain, tmp_path / "liar.glb")
    result = export_file(glb, tmp_path / "liar.obj", ExportOptions(format="obj"))
    assert {len(p) for p in _obj_polygons(Path(result.path))} == {3}
