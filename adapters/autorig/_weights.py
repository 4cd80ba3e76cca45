"""Auto-rig, step 4: skin weights by heat diffusion (Baran & Popović, Pinocchio).

Each vertex is heated by the nearest bone it can "see" (the straight line to the bone stays
inside the solid, so an arm hanging by the hip does not grab thigh vertices); the heat
spreads over the surface, solving ``(L + M H) w_j = M H p_j`` for each joint ``j`` with the
cotangent Laplacian ``L`` and lumped mass ``M``. Weights are smooth across joints, near
zero on other limbs, and then cut to the four strongest per vertex.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu

from adapters._shared.voxels import VoxelGrid
from adapters.autorig._bones import Joints
from engine.meshio.skin import INFLUENCES

_CANDIDATES = 6  # nearest bones tried for visibility before falling back to the nearest
_MAX_SAMPLES = 96  # points per visibility line
_CHUNK = 8192  # vertices per batch in the vertex-by-bone distance tables
_COT_CAP = 1e3  # slivers get huge cotangents that would swamp the solve
_TRANSFER_CHUNK = 32768  # full-mesh vertices per batch when carrying weights over


def heat_weights(vertices: np.ndarray, faces: np.ndarray, joints: Joints, grid: VoxelGrid,
                 check: Callable[[], None] = lambda: None) -> tuple[np.ndarray, np.ndarray]:
    """(joint indices, weights), each (n, 4), for the vertices of a welded mesh; ``check``
    is called between the long steps (it raises when the job was cancelled)."""
    heads, tails, owner = joints.bones()
    if len(owner) == 0:
        return _single(len(vertices), 0)
    bone, dist = _nearest_visible(vertices, heads, tails, grid)
    check()
    columns, column_of = np.unique(owner, return_inverse=True)
    heat = 1.0 / np.maximum(dist, 0.25 * grid.pitch) ** 2
    lap, mass = _laplacian(vertices, faces)
    mh = mass * heat
    system = (lap + sparse.diags(mh)).tocsc()
    target = np.zeros((len(vertices), len(columns)))
    target[np.arange(len(vertices)), column_of[bone]] = mh
    check()
    w = splu(system).solve(target)
    check()
    idx, top = top_influences(np.clip(w, 0.0, None))
    # a vertex the heat missed (numerically zero everywhere) follows its own bone
    empty = top.sum(axis=1) <= 1e-12
    idx[empty, 0], top[empty] = column_of[bone[empty]], (1.0, 0.0, 0.0, 0.0)
    return columns[idx], top


def transfer(points: np.ndarray, small_v: np.ndarray, small_f: np.ndarray, idx: np.ndarray,
             w: np.ndarray, joint_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights for ``points`` (the full mesh) from the simplified mesh they were solved on:
    interpolated at each point's closest spot on the simplified surface, so they stay smooth
    and a vertex only borrows from the surface it lies on."""
    import igl

    out_idx = np.empty((len(points), INFLUENCES), dtype=np.int64)
    out_w = np.empty((len(points), INFLUENCES))
    v = np.ascontiguousarray(small_v, dtype=np.float64)
    f = np.ascontiguousarray(small_f, dtype=np.int64)
    for s in range(0, len(points), _TRANSFER_CHUNK):
        pts = np.ascontiguousarray(points[s:s + _TRANSFER_CHUNK], dtype=np.float64)
        _, face, closest = igl.point_mesh_squared_distance(pts, v, f)
        corners = f[face]
        bary = _barycentric(closest, v[corners])
        dense = np.zeros((len(pts), joint_count))
        rows = np.repeat(np.arange(len(pts)), INFLUENCES)
        for k in range(3):
            np.add.at(dense, (rows, idx[corners[:, k]].ravel()),
                      (bary[:, k:k + 1] * w[corners[:, k]]).ravel())
        out_idx[s:s + len(pts)], out_w[s:s + len(pts)] = top_influences(dense)
    return out_idx, out_w


def _barycentric(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of points on their triangles (clipped: slivers misbehave)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    den = d00 * d11 - d01 * d01
    ok = np.abs(den) > 1e-30
    safe = np.where(ok, den, 1.0)
    y = np.where(ok, (d11 * d20 - d01 * d21) / safe, 0.0)
    z = np.where(ok, (d00 * d21 - d01 * d20) / safe, 0.0)
    bary = np.clip(np.stack([1.0 - y - z, y, z], axis=1), 0.0, 1.0)
    return bary / np.maximum(bary.sum(axis=1, keepdims=True), 1e-12)


def top_influences(w: np.ndarray, k: int = INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest columns per row and their weights, renormalized to sum to 1."""
    if w.shape[1] < k:
        w = np.pad(w, ((0, 0), (0, k - w.shape[1])))
    idx = np.argpartition(-w, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(w, idx, axis=1)
    total = top.sum(axis=1, keepdims=True)
    top = np.divide(top, total, out=np.zeros_like(top), where=total > 0)
    idx = np.where(top > 0, idx, 0)
    return idx, top


def _single(n: int, joint: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.zeros((n, INFLUENCES), dtype=np.int64)
    idx[:, 0] = joint
    w = np.zeros((n, INFLUENCES))
    w[:, 0] = 1.0
    return idx, w


def _segment_distances(points: np.ndarray, heads: np.ndarray,
                       tails: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, closest point) from every point to every segment: (n, b) and (n, b, 3)."""
    axis = tails - heads
    length2 = np.maximum((axis ** 2).sum(axis=1), 1e-30)
    rel = points[:, None, :] - heads[None]
    t = np.clip((rel * axis[None]).sum(axis=2) / length2, 0.0, 1.0)
    closest = heads[None] + t[..., None] * axis[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=2), closest


def _nearest_visible(vertices: np.ndarray, heads: np.ndarray, tails: np.ndarray,
                     grid: VoxelGrid) -> tuple[np.ndarray, np.ndarray]:
    """Per vertex, the nearest bone whose line of sight stays inside the (slightly grown)
    solid, and the distance to it; the plain nearest bone where none is visible."""
    # one voxel of slack: surface vertices sit on the solid's skin, not inside it
    inside = ndimage.binary_dilation(grid.solid, iterations=1)
    seen = VoxelGrid(inside, grid.origin, grid.pitch)
    bone = np.empty(len(vertices), dtype=np.int64)
    dist = np.empty(len(vertices))
    k = min(_CANDIDATES, len(heads))
    for s in range(0, len(vertices), _CHUNK):
        pts = vertices[s:s + _CHUNK]
        d, closest = _segment_distances(pts, heads, tails)
        order = np.argsort(d, axis=1)[:, :k]
        rows = np.arange(len(pts))
        chosen = order[:, 0].copy()
        found = np.zeros(len(pts), dtype=bool)
        for rank in range(k):
            cand = order[:, rank]
            ok = ~found & _visible(pts, closest[rows, cand], seen)
            chosen[ok], found = cand[ok], found | ok
        bone[s:s + _CHUNK] = chosen
        dist[s:s + _CHUNK] = d[rows, chosen]
    return bone, dist


def _visible(a: np.ndarray, b: np.ndarray, seen: VoxelGrid) -> np.ndarray:
    steps = np.linalg.norm(b - a, axis=1) / (0.5 * seen.pitch)
    count = int(np.clip(np.ceil(steps.max(initial=1.0)), 2, _MAX_SAMPLES))
    t = np.linspace(0.0, 1.0, count)
    pts = a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]
    return seen.inside(pts).all(axis=1)


def _laplacian(vertices: np.ndarray, faces: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Cotangent Laplacian with negative edge weights clipped (so heat never goes below 0)
    and the lumped (one third of each triangle's area per corner) mass."""
    n = len(vertices)
    tri = vertices[faces]
    rows, cols, vals = [], [], []
    area = np.zeros(len(faces))
    for k in range(3):
        a = tri[:, (k + 1) % 3] - tri[:, k]
        b = tri[:, (k + 2) % 3] - tri[:, k]
        cross = np.linalg.norm(np.cross(a, b), axis=1)
        area = 0.5 * cross
        ok = cross > 1e-12 * max(float((a * a).sum(axis=1).max(initial=0.0)), 1e-30)
        cot = np.zeros(len(faces))
        cot[ok] = np.clip((a[ok] * b[ok]).sum(axis=1) / cross[ok], -_COT_CAP, _COT_CAP)
        rows.append(faces[:, (k + 1) % 3])
        cols.append(faces[:, (k + 2) % 3])
        vals.append(0.5 * cot)
    r, c, v = (np.concatenate(x) for x in (rows, cols, vals))
    weights = sparse.coo_matrix((np.r_[v, v], (np.r_[r, c], np.r_[c, r])), shape=(n, n)).tocsr()
    weights.data = np.clip(weights.data, 0.0, None)
    weights.eliminate_zeros()
    lap = sparse.diags(np.asarray(weights.sum(axis=1)).ravel()) - weights
    mass = np.bincount(faces.ravel(), weights=np.repeat(area / 3.0, 3), minlength=n)
    # vertices on no triangle (or only on slivers) still need a little mass to be solvable
    mass = np.maximum(mass, 1e-6 * max(float(mass.mean()), 1e-30))
    return lap.tocsr(), mass
