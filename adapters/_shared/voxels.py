"""Auto-rig, step 1: the mesh as a solid voxel grid.

Inside comes from the generalized winding number (adapters._shared.solid_grid), so open,
self-intersecting and multi-piece meshes (clothes over a body, separate eyes) still give a
sensible solid. Voxels the surface passes through are added too, so parts thinner than a
voxel (antennae, fingers) are never lost.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from adapters._shared.solid_grid import VoxelGrid, surface_voxels, winding_inside

_MAX_SOLID = 250_000  # solid voxels the skeleton search handles in about a second
_FULL26 = np.ones((3, 3, 3), dtype=bool)


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
    shell = surface_voxels(vertices, faces, grid)
    grid.solid = winding_inside(coarse_vertices, coarse_faces, grid, shell) | shell
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


def components(solid: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected pieces of the solid (labels start at 1)."""
    labels, count = ndimage.label(solid, structure=_FULL26)
    return labels, int(count)


def depth(solid: np.ndarray, pitch: float) -> np.ndarray:
    """Distance from each solid voxel's centre to the outside, in world units."""
    return ndimage.distance_transform_edt(solid) * pitch
