"""Auto-rig, step 1: the mesh as a solid voxel grid.

Inside is decided by the generalized winding number (libigl), not by flood fill, so open,
self-intersecting and multi-piece meshes (clothes over a body, separate eyes) still give a
sensible solid. Voxels the surface passes through are added too, so parts thinner than a
voxel (antennae, fingers) are never lost.
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
_MIXED = 0.02
_MAX_SOLID = 250_000  # solid voxels the skeleton search handles in about a second  # a pocket with more than this share on both sides is evaluated densely
_FULL26 = np.ones((3, 3, 3), dtype=bool)


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


def voxelize(vertices: np.ndarray, faces: np.ndarray, coarse_vertices: np.ndarray,
             coarse_faces: np.ndarray, resolution: int) -> VoxelGrid:
    """The solid of the mesh with ``resolution`` voxels along its longest side. The surface
    voxels come from the full mesh; inside is decided on ``coarse_*``, a simplified copy
    (the winding number barely changes, and it costs per triangle)."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    pitch = float((hi - lo).max()) / resolution
    # One empty voxel of margin on every side keeps the solid off the grid's border.
    origin = lo - pitch
    shape = tuple(int(n) for n in np.ceil((hi - lo) / pitch).astype(int) + 3)
    grid = VoxelGrid(np.zeros(shape, dtype=bool), origin, pitch)
    shell = _surface_voxels(vertices, faces, grid)
    grid.solid = _winding_inside(coarse_vertices, coarse_faces, grid, shell) | shell
    while np.count_nonzero(grid.solid) > _MAX_SOLID:
        grid = _halve(grid)
    return grid


def _halve(grid: VoxelGrid) -> VoxelGrid:
    """The grid at half the resolution; a coarse voxel is solid if any of its eight is, so
    thin parts survive. Bulky models (a whale, a rock) need no fine grid, and the skeleton's
    graph costs per solid voxel."""
    solid = grid.solid
    solid = np.pad(solid, [(0, n % 2) for n in solid.shape])
    nx, ny, nz = (n // 2 for n in solid.shape)
    coarse = solid.reshape(nx, 2, ny, 2, nz, 2).any(axis=(1, 3, 5))
    pitch = 2.0 * grid.pitch
    # coarse voxel 0 is centred between fine voxels 0 and 1; one empty voxel of margin again
    origin = grid.origin + 0.5 * grid.pitch - pitch
    return VoxelGrid(np.pad(coarse, 1), origin, pitch)


def _surface_voxels(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid) -> np.ndarray:
    tri = vertices[faces]
    edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    steps = np.clip(np.ceil(edge * _SAMPLES_PER_PITCH / grid.pitch), 1, _MAX_SUBDIVISIONS)
    shell = np.zeros(grid.solid.shape, dtype=bool)
    for n in np.unique(steps).astype(int):
        bary = _barycentric_lattice(n)
        pts = np.einsum("pk,tkd->tpd", bary, tri[steps == n]).reshape(-1, 3)
        ijk = grid.index_of(pts)
        shell[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    return shell


def _barycentric_lattice(n: int) -> np.ndarray:
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    a, b = i[keep] / n, j[keep] / n
    return np.stack([a, b, 1.0 - a - b], axis=1)


def _winding_inside(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid,
                    shell: np.ndarray) -> np.ndarray:
    """Inside voxels. The winding number costs per query, so each pocket of air between
    surface voxels is judged from samples; only pockets that are part inside, part outside
    (an open mesh leaks through its holes) are evaluated densely, on every other voxel."""
    air, count = ndimage.label(~shell)
    flat = air.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(count + 2))
    rng = np.random.default_rng(0)
    picks = []
    for label in range(1, count + 1):
        members = order[bounds[label]:bounds[label + 1]]
        take = min(len(members), max(_POCKET_SAMPLES, len(members) // 50))
        picks.append(rng.choice(members, take, replace=False))
    where = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    hits = _winding(vertices, faces, grid, where)
    share = np.zeros(count + 1)
    np.add.at(share, flat[where], hits)
    share /= np.maximum(np.bincount(flat[where], minlength=count + 1), 1)
    inside = (share > 1 - _MIXED)[air]
    mixed = (share >= _MIXED) & (share <= 1 - _MIXED)
    mixed[0] = False
    if mixed.any():
        inside |= _dense_inside(vertices, faces, grid, mixed[air])
    return inside


def _dense_inside(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid,
                  region: np.ndarray) -> np.ndarray:
    coarse = np.zeros_like(region)
    coarse[::2, ::2, ::2] = region[::2, ::2, ::2]
    where = np.flatnonzero(coarse)
    value = np.zeros(region.shape, dtype=bool)
    value.ravel()[where] = _winding(vertices, faces, grid, where)
    # every other voxel takes the answer of the nearest evaluated one
    _, nearest = ndimage.distance_transform_edt(~coarse, return_indices=True)
    return value[tuple(nearest)] & region


def _winding(vertices: np.ndarray, faces: np.ndarray, grid: VoxelGrid,
             flat_index: np.ndarray) -> np.ndarray:
    import igl

    queries = grid.centres(np.stack(np.unravel_index(flat_index, grid.solid.shape), axis=1))
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    winding = [igl.fast_winding_number(v, f, np.ascontiguousarray(queries[s:s + _QUERY_CHUNK]))
               for s in range(0, len(queries), _QUERY_CHUNK)]
    # abs: a mesh whose triangles all face inward is still a solid
    return np.abs(np.concatenate(winding or [np.zeros(0)])) > 0.5


def components(solid: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected pieces of the solid (labels start at 1)."""
    labels, count = ndimage.label(solid, structure=_FULL26)
    return labels, int(count)


def depth(solid: np.ndarray, pitch: float) -> np.ndarray:
    """Distance from each solid voxel's centre to the outside, in world units."""
    return ndimage.distance_transform_edt(solid) * pitch
