"""Volumetric part completion, step 2: the object's solid on a grid, divided among parts.

Inside comes from the generalized winding number of the whole soup, so gaps, fragments and
self-intersections of a generated mesh still give one solid, and enclosed cavities are
filled. The solid is divided by each part's own winding number: winding numbers add up, so
inside the object the parts' windings sum to about one, and a point belongs to the part
that wraps it most. Where two parts meet along a cut, both windings are one half on the
surface that spans the cut (exactly the flat disk for a round hole), so the hidden
interface is the cut's natural cap, smooth and free of the spikes that "nearest surface"
gives along a crease, where two surfaces are equally near.

A part's region that falls apart is made whole again: a small stray piece goes to the part
it sits in (label noise of the segmentation), a small floating piece of nobody's is dropped
(debris), and a large piece stays, so that part is reported as more than one solid rather
than losing half of itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from adapters._shared.solid_grid import VoxelGrid, surface_voxels, winding, winding_inside
from adapters.volumetric_parts._soup import Soup

# A piece of a part's region at least this share of its largest piece is kept as a second
# solid (a pair of eyes in one part); smaller pieces are label noise or debris.
KEEP_SHARE = 0.1
# A part whose winding number cannot reach this at a point is not evaluated there (it is
# bounded by the part's area over 4π times the squared distance to its bounding box).
_NEGLIGIBLE = 0.02
# grid steps from a face to the points that tell whether the solid lies on both its sides
_VISIBLE_OFFSET = 2.0
_RELAX = 4  # smoothing passes of the ownership outside the solid
_MARGIN = 4  # empty nodes around the soup: every region's surface closes inside the grid


@dataclass
class Partition:
    grid: VoxelGrid  # .solid: the object's solid, cavities filled
    depth: np.ndarray  # on grid: signed distance to the solid's boundary, positive inside
    coarse: VoxelGrid  # every other node of grid; .solid: inside by the parts' windings
    labels: np.ndarray  # on coarse: the part owning each node (outside: the nearest owner)
    windings: np.ndarray  # (parts, *coarse shape) float32: each part's winding number
    moved: np.ndarray  # per part: coarse nodes given to the parts they sit in
    dropped: np.ndarray  # per part: coarse nodes of debris dropped
    visible: np.ndarray  # per soup face: it lies on the solid's boundary, not inside it
    straightened: bool = False  # interfaces were re-decided by a minimum cut

    def region(self, part: int) -> np.ndarray:
        return self.coarse.solid & (self.labels == part)

    def ownership(self, part: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """On the coarse box [lo, hi]: the part's winding minus the largest other winding,
        positive where the part owns the point; the zero level is the interface."""
        box = self.windings[:, lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1]
        others = np.delete(box, part, axis=0)
        rival = others.max(axis=0) if len(others) else np.zeros(box.shape[1:], np.float32)
        return box[part] - rival


def partition(soup: Soup, resolution: int, straighten: bool = False,
              tick: Callable[[float], None] = lambda fraction: None) -> Partition:
    """The soup's solid on a grid with ``resolution`` nodes along its longest side, divided
    among the parts on every other node; ``straighten``: interfaces re-decided by a
    minimum cut (``_cut``). ``tick`` hears the fraction done (it may raise)."""
    grid = _solid(soup, resolution)
    tick(0.3)
    coarse = VoxelGrid(grid.solid[::2, ::2, ::2].copy(), grid.origin, 2.0 * grid.pitch)
    visible = _visible_faces(soup, grid)
    windings = _part_windings(soup, visible, coarse, lambda f: tick(0.3 + 0.6 * f))
    coarse.solid &= windings.sum(axis=0) > 0.5  # the shell's outer layer is not inside
    labels = _owners(windings, coarse.solid)
    if straighten:
        from adapters.volumetric_parts._cut import straighten as cut

        cut(coarse.solid, labels, windings)
    moved, dropped, lost = _tidy(coarse, labels, windings, soup.parts)
    if lost.any():  # debris leaves the fine solid too
        fine = np.repeat(np.repeat(np.repeat(lost, 2, 0), 2, 1), 2, 2)
        grid.solid &= ~fine[tuple(slice(0, n) for n in grid.solid.shape)]
    _extend_outward(windings, labels, coarse.solid)
    return Partition(grid, _signed_depth(grid.solid, grid.pitch), coarse, labels, windings,
                     moved, dropped, visible, straighten)


def _solid(soup: Soup, resolution: int) -> VoxelGrid:
    """The soup's solid, cavities filled, on a grid with ``resolution`` nodes along its
    longest side and an empty margin all round."""
    lo, hi = soup.vertices.min(axis=0), soup.vertices.max(axis=0)
    pitch = float((hi - lo).max()) / resolution
    shape = tuple(int(n) for n in np.ceil((hi - lo) / pitch).astype(int) + 2 * _MARGIN + 1)
    grid = VoxelGrid(np.zeros(shape, dtype=bool), lo - _MARGIN * pitch, pitch)
    shell = surface_voxels(soup.vertices, soup.faces, grid)
    grid.solid = ndimage.binary_fill_holes(
        winding_inside(soup.vertices, soup.faces, grid, shell) | shell)
    return grid


def _visible_faces(soup: Soup, grid: VoxelGrid) -> np.ndarray:
    """Faces with the solid on one side only. A generated mesh's parts overlap without a
    union (a handle's ring runs on inside the cup): the faces inside the solid are left out
    of the parts' windings, so a part owns what its visible surface wraps, as if fused."""
    tri = soup.vertices[soup.faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
    centre, step = tri.mean(axis=1), _VISIBLE_OFFSET * grid.pitch
    return ~(grid.inside(centre + step * normal) & grid.inside(centre - step * normal))


def _part_windings(soup: Soup, visible: np.ndarray, coarse: VoxelGrid,
                   tick: Callable[[float], None]) -> np.ndarray:
    """Each part's signed winding number (of its visible faces) at the coarse grid's solid
    nodes (zero elsewhere, and where it cannot matter)."""
    nodes = np.flatnonzero(coarse.solid)
    points = coarse.centres(np.stack(np.unravel_index(nodes, coarse.solid.shape), axis=1))
    windings = np.zeros((soup.parts, *coarse.solid.shape), dtype=np.float32)
    for part in range(soup.parts):
        tick(part / soup.parts)
        faces = soup.faces[(soup.labels == part) & visible]
        if len(faces) == 0:
            continue
        corners = soup.vertices[faces.reshape(-1)]
        tri = soup.vertices[faces]
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]),
                                    axis=1).sum()
        gap = np.linalg.norm(np.maximum(np.maximum(corners.min(axis=0) - points,
                                                   points - corners.max(axis=0)), 0.0), axis=1)
        near = area / (4.0 * np.pi * np.maximum(gap, 1e-12) ** 2) >= _NEGLIGIBLE
        windings[part].ravel()[nodes[near]] = winding(soup.vertices, faces, points[near],
                                                      signed=True)
    return windings


def _owners(windings: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The part wrapping each inside node most; outside nodes take their nearest inside
    node's owner."""
    labels = windings.argmax(axis=0).astype(np.int16)
    if inside.any() and not inside.all():
        nearest = ndimage.distance_transform_edt(~inside, return_distances=False,
                                                 return_indices=True)
        labels = labels[tuple(nearest)]
    return labels


def _extend_outward(windings: np.ndarray, labels: np.ndarray, inside: np.ndarray) -> None:
    """Outside the solid every winding continues its inside values smoothly (nearest inside
    value, then relaxed towards the neighbours' mean a few times), so a part's ownership
    stays clear up to and beyond its visible surface and the interface leaves the surface
    without stairs."""
    if not inside.any() or inside.all():
        return
    nearest = ndimage.distance_transform_edt(~inside, return_distances=False,
                                             return_indices=True)
    outside = ~inside
    for part in range(len(windings)):
        values = windings[part][tuple(nearest)]
        for _ in range(_RELAX):
            values = np.where(outside, ndimage.uniform_filter(values, 3, mode="nearest"),
                              values)
        windings[part] = values


def _signed_depth(solid: np.ndarray, pitch: float) -> np.ndarray:
    """Positive inside, negative outside, zero half-way between an inside and an outside
    node, in the soup's units."""
    inside = ndimage.distance_transform_edt(solid) - 0.5
    outside = ndimage.distance_transform_edt(~solid) - 0.5
    return (np.where(solid, inside, -outside) * pitch).astype(np.float32)


def _tidy(coarse: VoxelGrid, labels: np.ndarray, windings: np.ndarray,
          parts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make each part's region one piece where it can (see the module's docstring). Returns
    the nodes each part gave away, the nodes of debris each lost, and where the debris
    was."""
    moved, dropped = np.zeros(parts, dtype=np.int64), np.zeros(parts, dtype=np.int64)
    debris = np.zeros_like(coarse.solid)
    for part in range(parts):
        given, lost = _tidy_part(coarse.solid, labels, windings, part)
        coarse.solid[lost] = False
        debris |= lost
        moved[part], dropped[part] = int(given.sum()), int(lost.sum())
    return moved, dropped, debris


def _tidy_part(solid: np.ndarray, labels: np.ndarray, windings: np.ndarray,
               part: int) -> tuple[np.ndarray, np.ndarray]:
    """The part's small stray pieces: those touching another part are given to it (their
    windings swapped with the receiver's, so ownership agrees with the labels); those
    touching none are returned as debris."""
    pieces, count = ndimage.label(solid & (labels == part))
    if count < 2:
        return np.zeros_like(solid), np.zeros_like(solid)
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    sizes[0] = 0
    stray = (sizes < KEEP_SHARE * sizes.max())[pieces] & (pieces > 0)
    others = solid & (labels != part)
    given = np.zeros_like(stray)
    if others.any():
        distance, nearest = ndimage.distance_transform_edt(~others, return_indices=True)
        touched = np.unique(pieces[stray & (distance <= 1.0)])
        given = stray & np.isin(pieces, touched[touched > 0])
        _give(given, part, labels[tuple(index[given] for index in nearest)], labels,
              windings)
    return given, stray & ~given


def _give(given: np.ndarray, part: int, receivers: np.ndarray, labels: np.ndarray,
          windings: np.ndarray) -> None:
    nodes = np.flatnonzero(given)
    flat = windings.reshape(len(windings), -1)
    mine, theirs = flat[part, nodes].copy(), flat[receivers, nodes].copy()
    flat[part, nodes], flat[receivers, nodes] = theirs, mine
    labels.ravel()[nodes] = receivers
