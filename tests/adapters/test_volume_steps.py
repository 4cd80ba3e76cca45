"""The steps of volumetric part completion that have a property of their own, checked
directly on small inputs (the whole adapter is tested in test_volumetric_parts.py)."""

from __future__ import annotations

import numpy as np
import trimesh

from adapters._shared.repair import wind_consistently
from adapters.volumetric_parts._cut import straighten
from adapters.volumetric_parts._soup import build_soup


def interface_area(labels: np.ndarray, inner: tuple[slice, ...]) -> int:
    return int(sum((np.diff(labels, axis=a) != 0)[inner].sum() for a in range(3)))


def test_a_minimum_cut_shortens_a_wavy_interface_the_windings_leave_open():
    n = 24
    solid = np.zeros((n, n, n), dtype=bool)
    solid[2:-2, 2:-2, 2:-2] = True
    i, _, k = np.meshgrid(*[np.arange(n)] * 3, indexing="ij")
    labels = np.where(k < 12 + np.round(2 * np.sin(i / 2.0)), 0, 1).astype(np.int16)
    windings = np.full((2, n, n, n), 0.5, dtype=np.float32)  # nothing prefers either side
    inner = (slice(2, -3),) * 3
    before = interface_area(labels, inner)
    gained = straighten(solid, labels, windings)
    assert interface_area(labels, inner) < 0.9 * before
    assert gained.sum() == 0 and (labels[solid] >= 0).all()


def test_a_minimum_cut_leaves_an_interface_the_windings_are_sure_of():
    n = 20
    solid = np.zeros((n, n, n), dtype=bool)
    solid[2:-2, 2:-2, 2:-2] = True
    k = np.meshgrid(*[np.arange(n)] * 3, indexing="ij")[2]
    labels = np.where(k < 8 + (np.arange(n)[:, None, None] % 4 == 0), 0, 1).astype(np.int16)
    mine = (labels == 0).astype(np.float32)
    windings = np.stack([mine, 1.0 - mine])  # each side wrapped fully by its own part
    kept = labels.copy()
    straighten(solid, labels, windings)
    assert (labels == kept).all()


def test_winding_is_made_consistent_keeping_what_most_faces_said():
    ball = trimesh.creation.icosphere(subdivisions=2)
    faces = ball.faces.copy()
    turned = np.random.default_rng(0).random(len(faces)) < 0.2
    faces[turned] = faces[turned][:, ::-1]
    fixed, _, count = wind_consistently(faces)
    assert count == 1 and (fixed == ball.faces).all()
    fixed, _, _ = wind_consistently(faces[:, ::-1])  # most faces inward: inward it stays
    assert (fixed == ball.faces[:, ::-1]).all()


def test_the_soup_turns_an_inside_out_closed_piece_and_leaves_open_fragments_alone():
    ball = trimesh.creation.icosphere(subdivisions=2)
    inside_out = trimesh.creation.icosphere(subdivisions=1, radius=0.3)
    inside_out.apply_translation((3, 0, 0))
    patch = ball.submesh([np.flatnonzero(ball.triangles_center[:, 2] > 0.5)], append=True)
    patch.apply_translation((-3, 0, 0))
    soup = build_soup([(ball.vertices, ball.faces), (inside_out.vertices,
                                                      inside_out.faces[:, ::-1]),
                       (patch.vertices, patch.faces)])
    tri = soup.vertices[soup.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    for part, centre in enumerate(((0, 0, 0), (3, 0, 0), (-3, 0, 0))):  # the balls' centres
        mine = soup.labels == part
        middle = (np.asarray(centre, dtype=float) - soup.centre) / soup.size
        outward = np.einsum("ij,ij->i", normals[mine], tri[mine].mean(axis=1) - middle)
        assert (outward > 0).all(), part
