"""The shared repairs under segmentation, part completion, retopology and rigging: the weld
(hashed, with an exact fallback), edge grouping and winding repair (no Python loop over
faces), checked against plain numpy on meshes with seams, flips, inside-out pieces, unused
vertices, long thin strips and coordinates far from the origin."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from adapters._shared import repair as _mesh_repair
from adapters._shared.repair import (
    edge_counts,
    edge_pairs,
    groups,
    half_edges,
    halfedge_pairs,
    orient_faces,
    weld,
)


def split_seams(mesh: trimesh.Trimesh, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every face given its own three vertices (an STL-style soup: every edge is a seam),
    each nudged by float noise far below the weld tolerance."""
    vertices = np.asarray(mesh.vertices)[mesh.faces.reshape(-1)]
    vertices = vertices + rng.normal(scale=1e-12, size=vertices.shape)
    return vertices, np.arange(len(vertices)).reshape(-1, 3)


def test_groups_match_numpy_unique():
    keys = np.random.default_rng(0).integers(0, 50, 1000)
    order, start, group = groups(keys)
    values, inverse = np.unique(keys, return_inverse=True)
    assert np.array_equal(group, inverse)
    assert np.array_equal(keys[order][start], values)
    assert (np.diff(keys[order]) >= 0).all()


def test_weld_closes_every_seam_of_a_triangle_soup():
    sphere = trimesh.creation.icosphere(3)
    vertices, faces = split_seams(sphere, np.random.default_rng(1))
    welded, new_faces, inverse = weld(vertices, faces, 1e-8)
    assert len(welded) == len(sphere.vertices)
    assert new_faces.shape == faces.shape  # faces keep their count and order
    rebuilt = trimesh.Trimesh(welded, new_faces, process=False)
    assert rebuilt.is_watertight
    assert np.allclose(welded[inverse], vertices, atol=1e-9)


def test_weld_keeps_first_use_order_and_drops_unused_vertices():
    vertices = np.array([[9.0, 9, 9], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]])
    faces = np.array([[1, 2, 3], [4, 3, 5]])
    welded, new_faces, inverse = weld(vertices, faces, 1e-6)
    assert welded.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    assert new_faces.tolist() == [[0, 1, 2], [0, 2, 1]]
    assert inverse.tolist() == [-1, 0, 1, 2, 0, 1]


def test_weld_tolerance_separates_points_farther_apart():
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1e-5]])
    faces = np.array([[0, 1, 2], [3, 1, 2]])
    assert len(weld(vertices, faces, 1e-8)[0]) == 4
    assert len(weld(vertices, faces, 1e-3)[0]) == 3


def test_weld_falls_back_to_exact_grouping_when_the_hash_collides(monkeypatch):
    sphere = trimesh.creation.icosphere(2)
    vertices, faces = split_seams(sphere, np.random.default_rng(2))
    expected = weld(vertices, faces, 1e-8)
    # every cell hashes alike: only the exact fallback can still tell them apart
    monkeypatch.setattr(_mesh_repair, "_mix", lambda x: np.zeros_like(x))
    got = weld(vertices, faces, 1e-8)
    for a, b in zip(expected, got, strict=True):
        assert np.array_equal(a, b)


def test_weld_handles_huge_coordinates_and_empty_input():
    sphere = trimesh.creation.icosphere(1)
    far = np.asarray(sphere.vertices) * 1e15 + 1e18
    welded, faces, _ = weld(far, sphere.faces, 1e-8)  # cells would overflow int64 unclamped
    assert len(welded) == len(sphere.vertices) and faces.shape == sphere.faces.shape
    welded, faces, inverse = weld(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), 1e-8)
    assert welded.shape == (0, 3) and faces.shape == (0, 3) and inverse.shape == (0,)


def test_edge_counts_and_pairs_on_a_closed_and_an_open_mesh():
    closed = trimesh.creation.box()
    inverse, counts = edge_counts(np.asarray(closed.faces))
    assert (counts == 2).all() and len(np.unique(inverse)) == len(closed.edges_unique)
    k1, k2 = halfedge_pairs(np.asarray(closed.faces))
    assert len(k1) == len(closed.edges_unique) and (k1 < k2).all()
    open_faces = np.asarray(closed.faces)[:-1]
    _, counts = edge_counts(open_faces)
    assert (counts == 1).sum() == 3  # the missing triangle's rim


def consistent(faces: np.ndarray) -> bool:
    return not edge_pairs(half_edges(faces))[2].any()


def test_orient_repairs_random_flips_and_turns_inside_out_pieces_outward():
    rng = np.random.default_rng(3)
    a = trimesh.creation.icosphere(3)
    b = trimesh.creation.box().apply_translation([5, 0, 0])
    both = trimesh.util.concatenate([a, b])
    truth = np.asarray(both.faces)
    faces = truth.copy()
    flip = rng.random(len(faces)) < 0.4
    faces[flip] = faces[flip][:, ::-1]
    faces[len(a.faces):] = faces[len(a.faces):][:, ::-1]  # the box's faces all ways round
    fixed = orient_faces(np.asarray(both.vertices), faces)
    assert np.array_equal(fixed, truth)


def test_orient_reaches_across_a_long_thin_strip():
    # a 20,000-triangle ribbon: a spanning tree as deep as the mesh is long
    n = 10_000
    x = np.repeat(np.arange(n + 1, dtype=float), 2)
    vertices = np.stack([x, np.tile([0.0, 1.0], n + 1), np.zeros(2 * (n + 1))], axis=1)
    i = 2 * np.arange(n)
    faces = np.concatenate([np.stack([i, i + 2, i + 1], 1), np.stack([i + 1, i + 2, i + 3], 1)])
    flipped = faces.copy()
    pick = np.random.default_rng(4).random(len(faces)) < 0.5
    flipped[pick] = flipped[pick][:, ::-1]
    fixed = orient_faces(vertices, flipped)
    assert consistent(fixed)
    normals = trimesh.Trimesh(vertices, fixed, process=False).face_normals
    assert np.allclose(np.abs(normals[:, 2]), 1.0) and len(np.unique(np.sign(normals[:, 2]))) == 1


@pytest.mark.parametrize("bad", [np.zeros((0, 3), dtype=np.int64)])
def test_orient_of_nothing_is_nothing(bad):
    assert orient_faces(np.zeros((0, 3)), bad).shape == (0, 3)
