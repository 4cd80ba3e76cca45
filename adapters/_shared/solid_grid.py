"""A mesh's solid on a regular grid, by the generalized winding number (libigl).

Inside is decided by the winding number, not by flood fill, so open, self-intersecting and
multi-piece meshes (clothes over a body, separate eyes, generated meshes full of gaps) still
give a sensible solid. The winding number costs per query, so the grid is first split into
pockets of air by the voxels the surface passes through, and each pocket is judged from a
sample of its voxels. Shared by the auto-rig's voxel skeleton and volumetric part completion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Surface samples per voxel edge: dense enough that a triangle leaves no unmarked voxel.
_SAMPLES_PER_PITCH = 2.0
# A triangle far larger than the grid is capped: its samples would only repeat voxels.
_MAX_SUBDIVISIONS = 512
_QUERY_CHUNK = 1 << 20
_POCKET_SAMPLES = 64  # winding-number samples per air pocket (more for big pockets)
# a pocket with more than this share of its samples on both sides is evaluated densely
_MIXED = 0.02


@dataclass
class VoxelGrid:
    """A boolean solid on an axis-aligned grid: voxel (i, j, k) is centred at
    ``origin + (i, j, k) * pitch``."""

    solid: np.ndarray  # (nx, ny, nz) bool
    origin: np.ndarray  # (3,) world position of voxel (0, 0, 0)'s centre
    pitch: float

    def centres(self, ijk: np.ndarray) -> np.ndarray:
        return self.origin + np.asarray(ijk, dtype=np.float64) * self.pitch

    def index_of(self, points: np.ndarray) -> np.ndarray:
        """The voxel holding each point, clipped into the grid."""
        ijk = np.rint((np.asarray(points) - self.origin) / self.pitch).astype(np.int64)
        return np.clip(ijk, 0, np.array(self.solid.shape) - 1)

    def inside(self, points: np.ndarray) -> np.ndarray:
        ijk = self.index_of(points)
        return self.solid[ijk[..., 0], ijk[..., 1], ijk[..., 2]]


def surface_samples(vertices: np.ndarray, faces: np.ndarray,
                    pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Points on every triangle, at most half a ``pitch`` apart, and the face each lies on:
    every voxel a triangle passes through holds one of its samples."""
    tri = vertices[faces]
    edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    steps = np.clip(np.ceil(edge * _SAMPLES_PER_PITCH / pitch), 1, _MAX_SUBDIVISIONS)
    points, owners = [], []
    for n in np.unique(steps).astype(int):
        bary = _barycentric_lattice(n)
        which = np.flatnonzero(steps == n)
        points.append(np.einsum("pk,tkd->tpd", bary, tri[which]).reshape(-1, 3))
        owners.append(np.repeat(which, len(bary)))
    if not points:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    return np.concatenate(points), np.concatenate(owners)


def surface_voxels(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid) -> np.ndarray:
    """The voxels the surface passes through."""
    shell = np.zeros(grid.solid.shape, dtype=bool)
    points, _ = surface_samples(vertices, faces, grid.pitch)
    ijk = grid.index_of(points)
    shell[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    return shell


def _barycentric_lattice(n: int) -> np.ndarray:
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    a, b = i[keep] / n, j[keep] / n
    return np.stack([a, b, 1.0 - a - b], axis=1)


def winding_inside(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid,
                   shell: np.ndarray) -> np.ndarray:
    """Inside voxels among those off the ``shell`` (shell voxels come back False). Each
    pocket of air between shell voxels is judged from samples; only pockets that are part
    inside, part outside (an open mesh leaks through its holes) are evaluated densely, on
    every other voxel."""
    return winding_pockets(vertices, faces, grid, shell, np.zeros(0, dtype=np.int64))[0]


def winding_pockets(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid,
                    shell: np.ndarray, exact: np.ndarray,
                    settled: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``winding_inside``, and the signed winding number at the voxels ``exact`` (flat
    indices) from the same call: each call rebuilds libigl's tree over every triangle.
    ``settled``: (where, inside) for voxels whose answer is known already (from a coarser
    grid, far from the surface); a leaking pocket is evaluated densely only elsewhere."""
    air, count = ndimage.label(~shell)
    flat = air.ravel()
    where = np.concatenate([exact, _pocket_samples(flat, count)]).astype(np.int64)
    values = winding(vertices, faces, grid.centres(np.stack(
        np.unravel_index(where, grid.solid.shape), axis=1)), signed=True)
    where, hits = where[len(exact):], np.abs(values[len(exact):]) > 0.5
    share = np.zeros(count + 1)
    np.add.at(share, flat[where], hits)
    share /= np.maximum(np.bincount(flat[where], minlength=count + 1), 1)
    inside = (share > 1 - _MIXED)[air]
    mixed = (share >= _MIXED) & (share <= 1 - _MIXED)
    mixed[0] = False
    if mixed.any():
        region = mixed[air]
        if settled is not None:
            inside |= region & settled[0] & settled[1]
            region &= ~settled[0]
        inside |= _dense_inside(vertices, faces, grid, region)
    return inside, values[:len(exact)]


def _pocket_samples(flat: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of a few voxels of every pocket (labels 1..count in ``flat``)."""
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(count + 2))
    rng = np.random.default_rng(0)
    picks = [np.zeros(0, dtype=np.int64)]
    for label in range(1, count + 1):
        members = order[bounds[label]:bounds[label + 1]]
        take = min(len(members), max(_POCKET_SAMPLES, len(members) // 50))
        picks.append(rng.choice(members, take, replace=False))
    return np.concatenate(picks)


def _dense_inside(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid,
                  region: np.ndarray) -> np.ndarray:
    coarse = np.zeros_like(region)
    coarse[::2, ::2, ::2] = region[::2, ::2, ::2]
    where = np.flatnonzero(coarse)
    value = np.zeros(region.shape, dtype=bool)
    value.ravel()[where] = winding(vertices, faces, grid.centres(np.stack(
        np.unravel_index(where, region.shape), axis=1))) > 0.5
    # every other voxel takes the answer of the nearest evaluated one
    _, nearest = ndimage.distance_transform_edt(~coarse, return_indices=True)
    return value[tuple(nearest)] & region


def winding(vertices: np.ndarray, faces: np.ndarray, queries: np.ndarray,
            signed: bool = False) -> np.ndarray:
    """The generalized winding number at each query point: about 1 inside, 0 outside. By
    default its absolute value (a mesh whose triangles all face inward is still a solid);
    ``signed`` keeps the sign, for adding up the windings of pieces of one surface."""
    import igl

    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    queries = np.ascontiguousarray(queries, dtype=np.float64).reshape(-1, 3)
    if len(f) == 0 or len(queries) == 0:
        return np.zeros(len(queries))
    values = np.concatenate([igl.fast_winding_number(v, f, queries[s:s + _QUERY_CHUNK])
                             for s in range(0, len(queries), _QUERY_CHUNK)])
    return values if signed else np.abs(values)
