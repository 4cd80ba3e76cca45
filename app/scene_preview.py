"""A light stand-in for a heavy mesh, so the viewport can draw *something* in a frame budget.

A software OpenGL renderer (llvmpipe: a VM, a remote desktop, a machine without a GPU driver)
needs about half a second per frame for a million triangles on two cores, and the frame is
drawn on the GUI thread, so the whole studio freezes for it. The viewport then draws this
preview instead, says so in its overlay with the real counts, and draws the real mesh when
the renderer is fast enough or the artist asks (wireframe always shows the real topology).

Vertex clustering: snap vertices to a grid whose cell fits the face budget, merge each cell's
vertices into their mean (normals, UVs and colours averaged too), drop the triangles that
collapse. Vertices merge only within one UV chart and a small UV cell, so a seam (same place,
far apart in the texture, even within one chart) keeps its texture. It is
cheap (a sort and a few bincounts, ~0.3 s for a million faces), which matters more here than
the shape fidelity of quadric decimation (~1.5 s), since the preview is on screen for seconds.
No Qt and no VTK: this runs in a helper process.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scene_data imports this module to build its previews
    from app.scene_data import PartData

PREVIEW_FACES = 100_000  # what llvmpipe on two busy cores draws in well under 100 ms
_MIN_PART_FACES = 500  # small parts are kept whole: they cost nothing and would vanish
_TRIES = 3
_MAX_UV_CELL = 0.25  # so a jump across a seam (half the texture or more) always splits
_AREA_SAMPLE = 100_000  # faces whose area estimates a part's surface


def needs_preview(faces: int, budget: int = PREVIEW_FACES) -> bool:
    """Only meshes well over the budget get one: a near miss is not worth a coarser look."""
    return faces > 2 * budget


def preview_parts(
    parts: tuple[PartData, ...], charts: tuple[np.ndarray | None, ...],
    budget: int = PREVIEW_FACES, smallest: int = _MIN_PART_FACES,
) -> tuple[PartData, ...]:
    """Each part clustered to its share of ``budget`` faces, but not below ``smallest``
    (``charts``: each part's UV chart per vertex, or None without UVs), in the same order and
    with the same names."""
    total = sum(len(p.faces) for p in parts) or 1
    out = []
    for part, chart in zip(parts, charts, strict=True):
        share = max(smallest, round(budget * len(part.faces) / total))
        out.append(cluster(part, chart, share) if len(part.faces) > 1.5 * share else part)
    return tuple(out)


def cluster(part: PartData, chart: np.ndarray | None, target_faces: int) -> PartData:
    """``part`` with about ``target_faces`` faces (within a factor of ~1.5)."""
    vertices = part.vertices  # float32: snapped column by column in float64 (_snap)
    # the areas only size the first grid cell (the loop below corrects it), so a sample of
    # faces does: on ten million faces the full sums took 1.6 s of the 3 s clustering
    sample = part.faces[:: max(1, len(part.faces) // _AREA_SAMPLE)]
    area = _area(vertices, sample) * len(part.faces) / len(sample)
    cell = _first_cell(vertices, area, target_faces)
    # texture units per unit of surface: a grid cell's UVs spread about cell × this
    uv_per_length = 0.0 if part.uv is None else np.sqrt(
        _area(part.uv, sample) * len(part.faces) / len(sample) / area)
    best = None
    for _ in range(_TRIES):
        uv_cell = min(2.0 * cell * uv_per_length, _MAX_UV_CELL)
        labels, faces = _snap(vertices, part.faces, _texture_key(part.uv, chart, uv_cell), cell)
        best = (labels, faces)
        ratio = len(faces) / target_faces
        if 0.66 <= ratio <= 1.5 or not len(faces):
            break
        cell *= np.sqrt(ratio)  # faces scale with 1 / cell²
    labels, faces = best  # type: ignore[misc]
    return _merged(part, labels, faces)


def _area(points: np.ndarray, faces: np.ndarray) -> float:
    """Total triangle area, for 3D positions or 2D UVs."""
    p = np.asarray(points, dtype=np.float32)  # no copy of float32 positions: a sample is read
    if p.shape[1] == 2:
        p = np.column_stack([p, np.zeros(len(p), dtype=np.float32)])
    a = p[faces[:, 0]]
    (ux, uy, uz), (wx, wy, wz) = (p[faces[:, 1]] - a).T, (p[faces[:, 2]] - a).T
    cross = np.column_stack([uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx])
    return 0.5 * float(np.linalg.norm(cross, axis=1).sum(dtype=np.float64)) or 1e-12


def _first_cell(vertices: np.ndarray, area: float, target_faces: int) -> float:
    """A closed surface gives ~2 faces per vertex, and a cell holds ~1.5 cell² of surface."""
    low, high = column_bounds(vertices)
    span = float((high - low).max()) or 1.0
    return max(np.sqrt(1.5 * area / max(target_faces / 2, 1)), span * 1e-6)


def _texture_key(uv: np.ndarray | None, chart: np.ndarray | None,
                 uv_cell: float) -> np.ndarray | None:
    """A per-vertex key that differs across UV charts and UV cells, or None without UVs."""
    if uv is None:
        return chart
    grid = np.floor(uv / max(uv_cell, 1e-9)).astype(np.int64)
    key = _dense(grid[:, 0] * (int(np.ptp(grid[:, 1])) + 1) + grid[:, 1] - grid[:, 1].min())
    if chart is not None:
        key = key * (int(chart.max()) + 1) + chart
    return key


def _dense(key: np.ndarray) -> np.ndarray:
    """The rank of each key among the distinct keys: small numbers that combine
    safely. Keys within a few times the count are ranked through a table, not a sort: on
    ten million faces the sort was most of the clustering."""
    if not len(key):
        return key.astype(np.int64)
    low = int(key.min())
    top = int(key.max()) - low + 1
    if top > max(4 * len(key), 1 << 20):
        return np.unique(key, return_inverse=True)[1].ravel()
    key = key - low if low else key
    present = np.zeros(top, dtype=bool)
    present[key] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    return rank[key]


def _snap(
    vertices: np.ndarray, faces: np.ndarray, texture: np.ndarray | None, cell: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster id per vertex, and the surviving triangles in cluster ids. Triangles that land
    on the same three clusters are one triangle, and two of opposite winding cancel (a fold
    the grid collapsed): kept, either would show its dark back face as a speck."""
    low = column_bounds(vertices)[0]
    # column by column: no (n, 3) float64 copy and temporaries of ten million faces' points
    x, y, z = (np.floor((vertices[:, k].astype(np.float64) - low[k]) / cell).astype(np.int64)
               for k in range(3))
    key = (x * (int(y.max()) + 1) + y) * (int(z.max()) + 1) + z
    del x, y, z
    if texture is not None:  # never average UVs across a seam
        key = _dense(key) * (int(texture.max()) + 1) + texture
    labels = _dense(key)
    n = int(labels.max()) + 1
    # int32 ids where they fit: gathering ten million triangles' corners is half the traffic
    tri = (labels.astype(np.int32) if n < 2**31 else labels)[faces]
    keep = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])
    tri = tri[keep].astype(np.int64)
    ordered = np.sort(tri, axis=1)
    code = (ordered[:, 0] * n + ordered[:, 1]) * n + ordered[:, 2]
    _, first, which = np.unique(code, return_index=True, return_inverse=True)
    net = np.bincount(which.ravel(), weights=_winding(tri, ordered), minlength=len(first))
    kept = ordered[first[net != 0]]
    backwards = net[net != 0] < 0
    kept[backwards] = kept[backwards][:, [0, 2, 1]]
    return labels, kept


def _winding(tri: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """+1 where a triangle is a rotation of its sorted corners, -1 where it is mirrored."""
    rotated = ((tri[:, 0] == ordered[:, 0]) & (tri[:, 1] == ordered[:, 1])) | (
        (tri[:, 0] == ordered[:, 1]) & (tri[:, 1] == ordered[:, 2])) | (
        (tri[:, 0] == ordered[:, 2]) & (tri[:, 1] == ordered[:, 0]))
    return np.where(rotated, 1.0, -1.0)


def _merged(part: PartData, labels: np.ndarray, faces: np.ndarray) -> PartData:
    n = int(labels.max()) + 1
    count = np.bincount(labels, minlength=n).astype(np.float64)[:, None]

    def mean(values: np.ndarray) -> np.ndarray:
        columns = [np.bincount(labels, weights=values[:, k], minlength=n)
                   for k in range(values.shape[1])]
        return np.column_stack(columns) / count

    used = np.zeros(n, dtype=bool)
    used[faces.ravel()] = True  # drop clusters no surviving triangle touches
    remap = np.cumsum(used) - 1
    uv = None if part.uv is None else mean(part.uv)[used].astype(np.float32)
    colors = None
    if part.vertex_colors is not None:
        colors = np.round(mean(part.vertex_colors.astype(np.float64))[used]).astype(np.uint8)
    vertices = mean(part.vertices)[used]
    faces = remap[faces]
    if part.normals is not None:
        normals = unit_rows(mean(part.normals)[used])
        faces = _facing_normals(vertices, faces, normals)
    else:  # no normals at full detail yet (a first level): the clustered faces' own
        faces = _facing_normals(vertices, faces, area_normals(vertices, faces))
        normals = unit_rows(area_normals(vertices, faces))
    return replace(
        part,
        vertices=vertices.astype(np.float32),
        faces=np.ascontiguousarray(faces, dtype=np.int64),
        normals=normals,
        uv=uv,
        vertex_colors=colors,
        quads=None,  # clustered triangles pair into no quads
    )


def _facing_normals(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Moving vertices to their cluster's mean can turn a sliver over; turn it back, so it
    faces the way its smooth normals do instead of showing a dark back-face speck."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    facing = np.einsum("ij,ij->i", np.cross(b - a, c - a), normals[faces].sum(axis=1))
    flipped = facing < 0
    faces = faces.copy()
    faces[flipped] = faces[flipped][:, [0, 2, 1]]
    return faces


def area_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Each vertex's sum of its faces' area-weighted normals, (n, 3) float64, not unit
    length. Coordinate by coordinate on contiguous columns, then one bincount per corner and
    axis: no np.add.at (ten times slower), no np.cross on (m, 3) rows (2 s of the 4 s this
    took on ten million faces), float32 products (plenty for a direction)."""
    columns = np.ascontiguousarray(np.asarray(vertices, dtype=np.float32).T)
    corners = [np.ascontiguousarray(faces[:, k], dtype=np.intp) for k in range(3)]
    a = [c[corners[0]] for c in columns]
    u = [c[corners[1]] - ak for c, ak in zip(columns, a, strict=True)]
    w = [c[corners[2]] - ak for c, ak in zip(columns, a, strict=True)]
    del a
    cross = (u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2],
             u[0] * w[1] - u[1] * w[0])  # |cross| = 2 × area
    del u, w
    out = np.zeros((len(columns[0]), 3))
    for axis, component in enumerate(cross):
        for index in corners:
            out[:, axis] += np.bincount(index, weights=component, minlength=len(out))
    return out


def unit_rows(normals: np.ndarray) -> np.ndarray:
    """``normals`` scaled to unit length as float32; zero rows (a vertex no face touches) stay 0."""
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    out = np.divide(normals, length, out=np.zeros(normals.shape), where=length > 1e-12)
    return out.astype(np.float32)


def column_bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest value of each column. Column by column: numpy's ``min(axis=0)``
    on an (n, 3) array walks it ten times slower (0.2 s on five million vertices)."""
    columns = range(points.shape[1])
    return (np.array([points[:, k].min() for k in columns]),
            np.array([points[:, k].max() for k in columns]))
