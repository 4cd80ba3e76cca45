"""Volumetric part completion, step 3: the field whose positive side is one part, sampled
on the part's own grid.

The field is the smaller of two: the signed distance to the object's surface, and the
part's ownership (its winding number minus the largest other part's). The distance is exact
(nearest triangle) on the nodes next to the surface, which is all marching cubes reads to
place the visible surface; elsewhere only its sign matters, which comes from the winding
number by pockets of air, as for the object's solid. The ownership is read from the coarse
partition, except near a cut's edge, where the windings turn around the edge like an angle
and the coarse grid cannot follow them: there it is exact (with two parts meeting, the
part's winding minus the other's is twice its own minus the total). Outside the solid the
field is the plain distance, so the ownership, which is no distance and near zero outside,
never moves the visible surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from adapters._shared.solid_grid import VoxelGrid, surface_voxels, winding, winding_pockets
from adapters.volumetric_parts._soup import SurfaceQueries

MAX_NODES = 3_000_000  # per part: a long thin part gets coarser, never out of memory
_CUBE = np.ones((3, 3, 3), dtype=bool)
# grid steps from the surface within which the ownership is exact at every node: near a
# cut's edge the windings turn around it like an angle, too fast for any coarser grid
_EDGE = 4.0
# field values kept between these many grid steps from zero: every marching-cubes vertex
# at least about half a percent of an edge away from the grid's nodes
_MARGIN, _CAP = 0.01, 2.0


@dataclass
class FineGrid:
    origin: np.ndarray  # model-frame position of node (0, 0, 0)
    pitch: float
    shape: tuple[int, int, int]

    @classmethod
    def spanning(cls, lo: np.ndarray, hi: np.ndarray, coarsest: float,
                 resolution: int) -> FineGrid:
        """``resolution`` steps along the box's longest side, never coarser than
        ``coarsest`` nor more than ``MAX_NODES`` nodes."""
        pitch = min(coarsest, float((hi - lo).max()) / resolution)
        while True:
            shape = tuple(int(n) for n in np.ceil((hi - lo) / pitch).astype(int) + 1)
            if int(np.prod(shape)) <= MAX_NODES:
                return cls(lo, pitch, shape)  # type: ignore[arg-type]
            pitch *= 1.1

    def axes(self) -> list[np.ndarray]:
        return [self.origin[i] + self.pitch * np.arange(self.shape[i]) for i in range(3)]

    def points(self, flat: np.ndarray) -> np.ndarray:
        return self.origin + np.stack(np.unravel_index(flat, self.shape), axis=1) * self.pitch


@dataclass
class Ownership:
    """A part's ownership on a box of the coarse grid: positive inside its region."""

    values: np.ndarray
    origin: np.ndarray  # model-frame position of the box's node (0, 0, 0)
    pitch: float

    def __post_init__(self) -> None:
        positive = self.values > 0
        # nodes next to a change of sign: an interface passes within a coarse step
        self._frontier = (ndimage.binary_dilation(positive, _CUBE)
                          & ndimage.binary_dilation(~positive, _CUBE)).astype(np.float32)

    def at(self, points: np.ndarray) -> np.ndarray:
        coords = ((np.asarray(points) - self.origin) / self.pitch).T
        return ndimage.map_coordinates(self.values, coords, order=1, mode="nearest")

    def on(self, fine: FineGrid) -> tuple[np.ndarray, np.ndarray]:
        """The ownership at every fine node, and whether an interface may pass nearby."""
        axes = fine.axes()
        coords = [c.ravel() for c in np.meshgrid(
            *((axes[i] - self.origin[i]) / self.pitch for i in range(3)), indexing="ij")]
        values = ndimage.map_coordinates(self.values, coords, order=1, mode="nearest")
        frontier = ndimage.map_coordinates(self._frontier, coords, order=1, mode="nearest")
        return values.reshape(fine.shape), frontier.reshape(fine.shape) > 0


@dataclass
class Sources:
    """What a part's field is read from: the soup's queries, its visible faces (those not
    buried inside the solid) and the part's own visible faces."""

    queries: SurfaceQueries
    visible: np.ndarray
    own: np.ndarray


def part_field(sources: Sources, own: Ownership, fine: FineGrid,
               settled: tuple[np.ndarray, np.ndarray], follow_windings: bool = True
               ) -> np.ndarray:
    """The part's field at every node of ``fine``: positive inside the part, no node
    exactly zero, the grid's faces outside. ``settled``: (where, inside) for the nodes the
    coarse solid answers for, far from the surface. Without ``follow_windings`` (a cut
    straightened the coarse interfaces) the ownership is exact only near the surface,
    where every interface starts."""
    grid, shell, from_shell = _shell(sources.queries, fine)
    mine, frontier = own.on(fine)
    frontier &= ~(settled[0] & ~settled[1])  # an interface far outside the solid is moot
    # a lattice twice as fine as the coarse grid, none where a cut decided the interfaces
    step = max(2, int(own.pitch / fine.pitch / 2)) if follow_windings else 0
    zones = _exact_zones(frontier, from_shell, step)
    depth, total = _depth(sources, grid, shell, from_shell, np.concatenate(zones), settled)
    _refine_ownership(mine, frontier, zones, step, total, winding(
        sources.queries.vertices, sources.own, fine.points(np.concatenate(zones)),
        signed=True))
    # scaled to the part's size, the ownership only shapes the corner where an interface
    # meets the visible surface (its zero level is what matters)
    scale = 0.5 * float(np.max(np.array(fine.shape) - 1)) * fine.pitch
    return _closed(np.where(depth > 0, np.minimum(depth, mine * scale), depth), fine.pitch)


def _shell(queries: SurfaceQueries, fine: FineGrid) -> tuple[VoxelGrid, np.ndarray, np.ndarray]:
    """The fine grid as voxels, those the surface passes through, and every node's distance
    to them (in grid steps)."""
    grid = VoxelGrid(np.zeros(fine.shape, dtype=bool), fine.origin, fine.pitch)
    shell = surface_voxels(queries.vertices, queries.faces_near(
        fine.origin - fine.pitch, grid.centres(np.array(fine.shape) - 1) + fine.pitch), grid)
    return grid, shell, ndimage.distance_transform_edt(~shell)


def _depth(sources: Sources, grid: VoxelGrid, shell: np.ndarray, from_shell: np.ndarray,
           zones: np.ndarray, settled: tuple[np.ndarray, np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray]:
    """The signed depth at every node, and the visible faces' total winding number at the
    ``zones`` nodes, from one winding-number call."""
    on_shell = np.flatnonzero(shell)
    exact = np.union1d(on_shell, zones)
    inside, total = winding_pockets(sources.queries.vertices, sources.visible, grid, shell,
                                    exact, settled)
    inside.ravel()[on_shell] = np.abs(total[np.searchsorted(exact, on_shell)]) > 0.5
    fine = FineGrid(grid.origin, grid.pitch, grid.solid.shape)  # type: ignore[arg-type]
    depth = _signed_depth(sources.queries, fine, inside, ndimage.binary_dilation(shell, _CUBE),
                          from_shell)
    return depth, total[np.searchsorted(exact, zones)]


def _exact_zones(frontier: np.ndarray, from_shell: np.ndarray,
                 step: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the ownership is evaluated exactly: every node near a cut's edge (within
    ``_EDGE`` steps of the surface), and a lattice ``step`` nodes apart wherever an
    interface may pass, so the interface is sampled finer than the coarse grid everywhere
    and at full resolution where the windings turn fastest (``step`` 0: no lattice)."""
    edge = np.flatnonzero(frontier & (from_shell <= _EDGE))
    if step == 0:
        return edge, np.zeros(0, dtype=np.int64)
    lattice = np.zeros_like(frontier)
    every = (slice(None, None, step),) * 3
    lattice[every] = ndimage.binary_dilation(frontier, _CUBE)[every]
    lattice.ravel()[edge] = False
    return edge, np.flatnonzero(lattice)


def _refine_ownership(mine: np.ndarray, frontier: np.ndarray,
                      zones: tuple[np.ndarray, np.ndarray], step: int, total: np.ndarray,
                      own_winding: np.ndarray) -> None:
    """Exact ownership in the zones (with two parts meeting, the part's winding minus the
    other's is twice its own minus the total); between lattice nodes, interpolated."""
    exact = 2.0 * own_winding - total
    edge, lattice = zones
    if step == 0:
        mine.ravel()[edge] = exact
        return
    every = (slice(None, None, step),) * 3
    sparse_grid = mine[every].copy()
    ijk = np.unravel_index(lattice, mine.shape)
    sparse_grid[tuple(i // step for i in ijk)] = exact[len(edge):]
    where = np.flatnonzero(frontier)
    coords = [i / step for i in np.unravel_index(where, mine.shape)]
    mine.ravel()[where] = ndimage.map_coordinates(sparse_grid, coords, order=1,
                                                  mode="nearest")
    mine.ravel()[edge] = exact[:len(edge)]


def _signed_depth(queries: SurfaceQueries, fine: FineGrid, inside: np.ndarray,
                  near: np.ndarray, from_shell: np.ndarray) -> np.ndarray:
    """Exact signed distance next to the surface; elsewhere the distance to the surface's
    voxels, which has the right sign and grows the right way."""
    band = np.flatnonzero(near)
    distance, _, _ = queries.closest(fine.points(band))
    depth = from_shell * fine.pitch
    depth.ravel()[band] = distance
    return np.where(inside, depth, -depth)


def _closed(values: np.ndarray, pitch: float) -> np.ndarray:
    # No node at or near zero: an exact zero is where marching cubes can pinch two sheets
    # together, and a near one puts several vertices within float32's reach of the node
    # (one point in the GLB). Far values are capped so no crossing hugs a node either.
    small, large = _MARGIN * pitch, _CAP * pitch
    values = np.where(values >= 0, np.clip(values, small, large), np.clip(values, -large, -small))
    for axis in range(3):  # the grid's faces are outside: every surface closes
        index: list[Any] = [slice(None)] * 3
        for end in (0, -1):
            index[axis] = end
            values[tuple(index)] = -pitch
    return values
