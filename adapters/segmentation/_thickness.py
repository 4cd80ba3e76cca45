"""Thickness of the solid under each face: the segmentation's cue for smooth joints.

A soft-jointed character has no crease where a limb meets the body, but the solid's
thickness changes fast there (a thin arm, a thick torso), while along a limb or across the
body it changes slowly. Thickness is a shape-diameter measure read from the solid, not from
rays: the mesh becomes a voxel solid (the auto-rig's winding-number voxelisation, so open or
self-intersecting input still works), each voxel knows its distance to the outside, and a
face's thickness is the largest such distance met walking inward along its normal until the
walk leaves the solid: the radius of the largest ball inside the part under it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse

from adapters._shared.voxels import depth, voxelize

RESOLUTION = 64  # voxels along the longest side of the model
_STEPS = 24  # samples along each inward walk
_CHUNK = 50_000  # faces walked at once: bounds the memory of the walk on big meshes
_REACH = 0.25  # how far inward to walk, as a share of the (unit) diagonal
# rounds of averaging over the face graph: voxel steps and a limb's own taper (an elbow, a
# knee) must not read as joints, a limb meeting a body must
_SMOOTHING = 12


def face_thickness(vertices: np.ndarray, faces: np.ndarray, centroids: np.ndarray,
                   normals: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Per face, the inscribed radius of the solid under it (unit-diagonal model), smoothed
    over the face adjacency ``pairs``. Never below half a voxel: thinner parts are flat."""
    grid = voxelize(vertices, faces, vertices, faces, RESOLUTION)
    inner = depth(grid.solid, grid.pitch)
    radius = np.concatenate([
        _walk(inner, grid.origin, grid.pitch, centroids[i:i + _CHUNK], normals[i:i + _CHUNK])
        for i in range(0, len(centroids), _CHUNK)]) if len(centroids) else np.zeros(0)
    radius = np.maximum(radius, 0.5 * grid.pitch)
    return _smooth(np.log(radius), pairs, len(centroids))


def _walk(inner: np.ndarray, origin: np.ndarray, pitch: float, centroids: np.ndarray,
          normals: np.ndarray) -> np.ndarray:
    """The largest depth met walking inward from each centroid until the walk leaves the
    solid after entering it (so it never reads a neighbouring part)."""
    steps = np.linspace(0.0, _REACH, _STEPS)
    points = centroids[:, None, :] - steps[None, :, None] * normals[:, None, :]
    coords = (points - origin) / pitch
    values = ndimage.map_coordinates(inner, coords.reshape(-1, 3).T, order=1, mode="constant",
                                     cval=0.0).reshape(len(centroids), _STEPS)
    inside = values > 0.25 * pitch
    entered = np.maximum.accumulate(inside, axis=1)
    left = np.maximum.accumulate(entered & ~inside, axis=1)
    return np.where(left, 0.0, values).max(axis=1)


def _smooth(values: np.ndarray, pairs: np.ndarray, n: int) -> np.ndarray:
    if len(pairs) == 0:
        return np.exp(values)
    i, j = pairs[:, 0], pairs[:, 1]
    adj = sparse.coo_matrix((np.ones(2 * len(i)), (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    adj = (adj + sparse.identity(n)).tocsr()
    adj = sparse.diags(1.0 / np.asarray(adj.sum(axis=1)).ravel()) @ adj
    for _ in range(_SMOOTHING):
        values = adj @ values
    return np.exp(values)
