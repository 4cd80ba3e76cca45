"""A small numpy triangle rasterizer for ``project``: which triangle covers each pixel
centre, where inside it (barycentric coordinates), and, with depths, only the nearest.

It walks scanline spans rather than bounding boxes, so long slivers cost the pixels they
cover, and works in bounded batches, so a mesh of huge overlapping triangles cannot exhaust
memory. Used twice: in the picture (a depth buffer for visibility) and in UV space (which
surface point every texel holds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BATCH = 1 << 22  # candidate pixels per batch
_EPS = 1e-7  # shared edges belong to both triangles: no pinholes between them


@dataclass
class Raster:
    face: np.ndarray  # (H, W) int64, −1 where no triangle covers the pixel centre
    bary: np.ndarray  # (H, W, 3) float32
    depth: np.ndarray  # (H, W) float32, +inf where empty (only meaningful with depths)


def rasterize(points: np.ndarray, faces: np.ndarray, width: int, height: int,
              depth: np.ndarray | None = None) -> Raster:
    """``points`` (N, 2) in pixels (x right, y down; pixel (r, c) has its centre at
    (c + 0.5, r + 0.5)); ``depth`` (N,) keeps the smallest value per pixel when given."""
    out = Raster(np.full(height * width, -1, np.int64), np.zeros((height * width, 3), np.float32),
                 np.full(height * width, np.inf, np.float32))
    tri = points[faces].astype(np.float64)  # (F, 3, 2)
    x, y = tri[..., 0], tri[..., 1]
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    row0 = np.clip(np.ceil(y.min(axis=1) - 0.5), 0, height)
    row1 = np.clip(np.floor(y.max(axis=1) - 0.5), -1, height - 1)
    rows = np.maximum(row1 - row0 + 1, 0).astype(np.int64)
    ok = np.flatnonzero((rows > 0) & (np.abs(area) > 1e-12) & np.isfinite(area))
    cost = rows[ok] * (np.ceil(np.ptp(x[ok], axis=1)) + 1).astype(np.int64)
    batch = np.cumsum(cost) // _BATCH
    for sel in np.split(ok, np.flatnonzero(np.diff(batch)) + 1):
        if sel.size:
            _spans(tri, area, row0, rows, sel, width, height, faces, depth, out)
    return Raster(out.face.reshape(height, width), out.bary.reshape(height, width, 3),
                  out.depth.reshape(height, width))


def _spans(tri: np.ndarray, area: np.ndarray, row0: np.ndarray, rows: np.ndarray,
           sel: np.ndarray, width: int, height: int, faces: np.ndarray,
           depth: np.ndarray | None, out: Raster) -> None:
    n = rows[sel]
    t = np.repeat(sel, n)  # one entry per (triangle, row)
    py = row0[t] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    x0, y0 = tri[t, 0, 0], tri[t, 0, 1]
    dx1, dy1 = tri[t, 1, 0] - x0, tri[t, 1, 1] - y0
    dx2, dy2 = tri[t, 2, 0] - x0, tri[t, 2, 1] - y0
    d, yy = area[t], py + 0.5 - y0
    # along the row, b1 = a1·x + k1 and b2 = a2·x + k2 (x = pixel centre − x0)
    a1, k1 = dy2 / d, -dx2 * yy / d
    a2, k2 = -dy1 / d, dx1 * yy / d
    slopes = np.stack([-a1 - a2, a1, a2])
    offsets = np.stack([1.0 - k1 - k2, k1, k2])
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = (-_EPS - offsets) / slopes
    lo = np.where(slopes > 0, bound, -np.inf).max(axis=0)
    hi = np.where(slopes < 0, bound, np.inf).min(axis=0)
    empty = ((slopes == 0) & (offsets < -_EPS)).any(axis=0)
    lo = np.maximum(lo + x0, tri[t, :, 0].min(axis=1))  # clamp needle slopes to the triangle
    hi = np.minimum(hi + x0, tri[t, :, 0].max(axis=1))
    px0 = np.clip(np.ceil(lo - 0.5), 0, width)
    count = np.clip(np.floor(hi - 0.5), -1, width - 1) - px0 + 1
    count = np.where(empty, 0, np.maximum(count, 0)).astype(np.int64)
    r = np.repeat(np.arange(len(t)), count)  # one entry per covered pixel centre
    px = px0[r] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    u = px + 0.5 - x0[r]
    b1, b2 = a1[r] * u + k1[r], a2[r] * u + k2[r]
    bary = np.stack([1.0 - b1 - b2, b1, b2], axis=1)
    pix = (py[r] * width + px).astype(np.int64)
    face = t[r]
    if depth is None:
        out.face[pix], out.bary[pix] = face, bary
        return
    z = (bary * depth[faces[face]]).sum(axis=1)
    np.minimum.at(out.depth, pix, z.astype(np.float32))
    win = z.astype(np.float32) <= out.depth[pix]
    out.face[pix[win]], out.bary[pix[win]] = face[win], bary[win]


def grow_charts(texels: Raster, triangles: np.ndarray, rings: int) -> Raster:
    """Give texels just outside a chart that chart's surface (barycentric coordinates
    extrapolated, then clamped): a texel the chart only partly covers, or one a bilinear
    lookup at the chart's edge reaches, shows the chart's colour, not a neighbour's."""
    face, bary = texels.face.copy(), texels.bary.copy()
    shifts = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)]
    for _ in range(rings):
        chosen = np.full(face.shape, -1, np.int64)
        for dy, dx in shifts:  # edge neighbours first, corners after
            neighbour = np.pad(face, 1, constant_values=-1)[1 - dy:face.shape[0] + 1 - dy,
                                                            1 - dx:face.shape[1] + 1 - dx]
            chosen = np.where((chosen < 0) & (face < 0) & (neighbour >= 0), neighbour, chosen)
        rows, cols = np.nonzero(chosen >= 0)
        if not len(rows):
            break
        picked = chosen[rows, cols]
        face[rows, cols] = picked
        bary[rows, cols] = _clamped_bary(triangles[picked], np.column_stack([cols, rows]) + 0.5)
    return Raster(face, bary, texels.depth)


def _clamped_bary(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, p - a
    d = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    d = np.where(np.abs(d) < 1e-12, 1e-12, d)
    w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / d
    w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / d
    weights = np.clip(np.column_stack([1.0 - w1 - w2, w1, w2]), 0.0, None)
    return (weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)
