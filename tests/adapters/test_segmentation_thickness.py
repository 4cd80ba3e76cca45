"""The thickness cue of segmentation: the inscribed radius of the solid under each face."""

from __future__ import annotations

import numpy as np
import trimesh

from adapters._shared.repair import half_edges
from adapters.segmentation._graph import _shared_edges, thickness_change
from adapters.segmentation._thickness import face_thickness
from benchmarks._creature_cases import Capsule, Ellipsoid, mesh_creature


def _thickness(mesh: trimesh.Trimesh) -> np.ndarray:
    faces = np.asarray(mesh.faces)
    pairs, _ = _shared_edges(half_edges(faces))
    return face_thickness(np.asarray(mesh.vertices), faces, mesh.triangles_center,
                          mesh.face_normals, pairs)


def test_a_sphere_is_as_thick_as_its_radius_everywhere():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.2)  # diagonal about 0.7
    thick = _thickness(sphere)
    assert np.allclose(thick, 0.2, rtol=0.05)


def test_a_limb_is_thinner_than_the_body_it_joins_smoothly():
    case = mesh_creature("arm", [Ellipsoid((0, 0, 0), (0.5, 0.4, 0.4), 0),
                                 Capsule((0.4, 0, 0), (1.4, 0, 0), 0.1, 1)], blend=0.15)
    mesh = case.mesh.copy()
    mesh.apply_scale(1.0 / np.linalg.norm(np.ptp(mesh.bounds, axis=0)))  # unit diagonal
    thick = _thickness(mesh)
    body, arm = np.median(thick[case.labels == 0]), np.median(thick[case.labels == 1])
    assert arm < 0.4 * body


def test_an_open_surface_and_a_single_triangle_give_finite_thickness():
    """No solid to measure: thickness falls back to half a voxel, never NaN or zero."""
    box = trimesh.creation.box()
    sheet = box.submesh([np.flatnonzero(box.face_normals[:, 2] < 0.5)], append=True)
    assert sheet.faces.size and not sheet.is_watertight
    thick = _thickness(sheet)
    assert np.isfinite(thick).all() and (thick > 0).all()
    one = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False)
    assert np.isfinite(_thickness(one)).all()
    assert len(thickness_change(one.vertices, one.faces, one.triangles_center,
                                one.face_normals, np.zeros((0, 2), dtype=np.int64))) == 0

