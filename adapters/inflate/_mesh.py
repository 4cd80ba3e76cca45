"""Silhouette inflation: a coverage grid becomes a closed, two-sided, rounded mesh.

The silhouette is the 0.5 iso-line of the object's coverage sampled on a grid. Marching
squares fills it with triangles whose rim vertices lie exactly on that line (sub-cell
accurate, so thin legs and tails keep their width). The height comes from a Poisson
problem, -Δu = 2 inside with u = 0 on the rim (Shortley–Weller stencils at the cut cells,
so the boundary condition sits on the same iso-line), and z = thickness·√u: a strip of
width w gets an exactly circular cross-section of radius w/2, a disc a flattened sphere,
and the sides are vertical at the rim, so front (+z) and back (−z) meet smoothly. Front
and back share the rim vertices, which closes the mesh without any stitching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIN_CUT = 0.05  # crossings are kept this far (in cells) from grid points: no slivers
_MARGIN = 2  # empty cells around the silhouette, so every inside point has four neighbours


@dataclass(frozen=True)
class Frame:
    """Where the grid lies on the picture: sample (row i, column j) sits at picture
    coordinates (x0 + (j + 0.5)·step, y0 + (i + 0.5)·step), in pixels."""

    x0: float
    y0: float
    step: float
    rows: int
    cols: int

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x0 + self.cols * self.step, self.y0 + self.rows * self.step)


def plan_frame(bbox: tuple[int, int, int, int], resolution: int) -> Frame:
    """A grid with ``resolution`` cells across the object's longer side (never finer than the
    picture's own pixels), plus a margin of empty cells."""
    x0, y0, x1, y1 = bbox
    long_side = max(x1 - x0, y1 - y0)
    step = long_side / min(resolution, long_side)
    cols = int(np.ceil((x1 - x0) / step)) + 2 * _MARGIN
    rows = int(np.ceil((y1 - y0) / step)) + 2 * _MARGIN
    # centre the object in the grid so the margins on both sides are equal
    gx = (x0 + x1) / 2 - cols * step / 2
    gy = (y0 + y1) / 2 - rows * step / 2
    return Frame(gx, gy, step, rows, cols)


def sample_field(alpha: np.ndarray, frame: Frame, smoothing: float) -> np.ndarray:
    """Coverage − 0.5 at every grid sample (positive inside), area-averaged over a cell."""
    import cv2

    soft = alpha.astype(np.float32)
    box = round(frame.step)
    if box >= 2:  # averaging over a cell before point sampling keeps sub-cell edge positions
        soft = cv2.blur(soft, (box, box))
    xs = frame.x0 + (np.arange(frame.cols, dtype=np.float32) + 0.5) * frame.step - 0.5
    ys = frame.y0 + (np.arange(frame.rows, dtype=np.float32) + 0.5) * frame.step - 0.5
    map_x, map_y = np.meshgrid(xs, ys)
    coverage = cv2.remap(soft, map_x.astype(np.float32), map_y.astype(np.float32),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if smoothing > 0:  # gentle: a two-cell-wide leg must keep coverage above one half
        coverage = cv2.GaussianBlur(coverage, (0, 0), 0.6 * smoothing)
    field = coverage.astype(np.float64) - 0.5
    field[[0, -1], :], field[:, [0, -1]] = -0.5, -0.5
    return field


def lost_share(alpha: np.ndarray, frame: Frame, field: np.ndarray) -> float:
    """Share of the object's pixels more than a cell away from any inside sample: parts too
    thin for this grid (whiskers, legs of a spider) that the mesh would drop."""
    import cv2

    near = cv2.dilate((field > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ys, xs = np.nonzero(alpha >= 0.5)
    rows = np.clip(((ys + 0.5 - frame.y0) / frame.step).astype(np.int64), 0, frame.rows - 1)
    cols = np.clip(((xs + 0.5 - frame.x0) / frame.step).astype(np.int64), 0, frame.cols - 1)
    return float(1.0 - near[rows, cols].mean()) if len(ys) else 0.0


# ----------------------------------------------------------------------------- heights


def _cut_distance(f0: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Distance (cells) from an inside sample to the iso-line towards an outside neighbour."""
    denominator = np.where(fn > 0, 1.0, f0 - fn)
    return np.clip(f0 / denominator, _MIN_CUT, 1.0 - _MIN_CUT)


def solve_heights(field: np.ndarray) -> np.ndarray:
    """u with −Δu = 2 inside and u = 0 on the iso-line; zero outside."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    inside = field > 0
    count = int(inside.sum())
    index = np.full(field.shape, -1, dtype=np.int64)
    index[inside] = np.arange(count)
    rows, cols = np.nonzero(inside)
    f0 = field[rows, cols]
    diagonal = np.zeros(count)
    r_idx, c_idx, values = [], [], []
    for offsets in (((0, 1), (0, -1)), ((1, 0), (-1, 0))):
        arms = []
        for di, dj in offsets:
            fn = field[rows + di, cols + dj]
            distance = np.where(fn > 0, 1.0, _cut_distance(f0, fn))
            arms.append((distance, index[rows + di, cols + dj], fn > 0))
        (hp, np_, ip), (hm, nm, im) = arms
        # Shortley–Weller: second difference with unequal arms hp, hm
        ap, am = 2.0 / (hp * (hp + hm)), 2.0 / (hm * (hp + hm))
        diagonal += ap + am
        for weight, neighbour, known in ((ap, np_, ip), (am, nm, im)):
            r_idx.append(np.nonzero(known)[0])
            c_idx.append(neighbour[known])
            values.append(-weight[known])
    r_all = np.concatenate([np.arange(count), *r_idx])
    c_all = np.concatenate([np.arange(count), *c_idx])
    v_all = np.concatenate([diagonal, *values])
    matrix = coo_matrix((v_all, (r_all, c_all)), shape=(count, count)).tocsc()
    u = np.zeros(field.shape)
    u[inside] = np.maximum(spsolve(matrix, np.full(count, 2.0)), 0.0)
    return u


# ----------------------------------------------------------------------------- marching squares

_CORNER_DI, _CORNER_DJ = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 0])


def _polygon(case: int, joined: bool) -> list[list[int]]:
    """Inside polygons of one cell as codes (0-3 corners, 4-7 edges), each starting at a
    corner so that fan triangles always hold one inside (raised) vertex."""
    inside = [bool(case >> k & 1) for k in range(4)]
    if case in (5, 10) and not joined:
        a = 0 if case == 5 else 1
        return [[a, 4 + a, 4 + (a + 3) % 4], [a + 2, 4 + a + 2, 4 + (a + 1) % 4]]
    walk = []
    for k in range(4):
        if inside[k]:
            walk.append(k)
        if inside[k] != inside[(k + 1) % 4]:
            walk.append(4 + k)
    start = next(i for i, code in enumerate(walk) if code < 4)
    return [walk[start:] + walk[:start]]


def _fans() -> dict[tuple[int, bool], np.ndarray]:
    table = {}
    for case in range(1, 16):
        for joined in (False, True):
            tris = [(p[0], p[k], p[k + 1]) for p in _polygon(case, joined)
                    for k in range(1, len(p) - 1)]
            table[case, joined] = np.array(tris, dtype=np.int64)
    return table


_FANS = _fans()


def triangulate(field: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The filled silhouette: points (col, row) in grid units, rim flags, the grid sample of
    each non-rim point, and triangles (counter-clockwise with y pointing up)."""
    rows, cols = field.shape
    f = [field[:-1, :-1], field[:-1, 1:], field[1:, 1:], field[1:, :-1]]
    case = sum((f[k] > 0).astype(np.int64) << k for k in range(4))
    joined = (f[0] + f[1] + f[2] + f[3]) > 0
    ci, cj = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    n_corner, n_h = rows * cols, rows * (cols - 1)
    ids = np.stack([
        *[(ci + _CORNER_DI[k]) * cols + cj + _CORNER_DJ[k] for k in range(4)],
        n_corner + ci * (cols - 1) + cj,  # edge 0: top, horizontal (i, j)
        n_corner + n_h + ci * cols + cj + 1,  # edge 1: right, vertical (i, j + 1)
        n_corner + (ci + 1) * (cols - 1) + cj,  # edge 2: bottom, horizontal (i + 1, j)
        n_corner + n_h + ci * cols + cj,  # edge 3: left, vertical (i, j)
    ], axis=-1)
    faces = []
    for (c, j), fan in _FANS.items():
        cells = ids[(case == c) & (joined == j)]
        if len(cells):
            faces.append(cells[:, fan].reshape(-1, 3))
    faces = np.concatenate(faces) if faces else np.zeros((0, 3), np.int64)
    used, faces = np.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    points = _positions(field, used, n_corner, n_h)
    rim = used >= n_corner
    sample = np.where(rim, -1, used)
    return points, rim, sample, _counter_clockwise(points, faces)


def _positions(field: np.ndarray, used: np.ndarray, n_corner: int, n_h: int) -> np.ndarray:
    cols = field.shape[1]
    points = np.zeros((len(used), 2))
    corner = used < n_corner
    points[corner] = np.stack([used[corner] % cols, used[corner] // cols], axis=1)
    horizontal = ~corner & (used < n_corner + n_h)
    i, j = np.divmod(used[horizontal] - n_corner, cols - 1)
    t = _crossing(field[i, j], field[i, j + 1])
    points[horizontal] = np.stack([j + t, i], axis=1)
    vertical = used >= n_corner + n_h
    i, j = np.divmod(used[vertical] - n_corner - n_h, cols)
    t = _crossing(field[i, j], field[i + 1, j])
    points[vertical] = np.stack([j, i + t], axis=1)
    return points


def _crossing(fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Where the iso-line cuts the edge a→b, as a fraction from a (same clamp as the stencil)."""
    return np.clip(fa / np.where(fa == fb, 1.0, fa - fb), _MIN_CUT, 1.0 - _MIN_CUT)


def _counter_clockwise(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    # grid rows grow downwards; the mesh's y grows upwards, so the area's sign flips
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return np.where((cross > 0)[:, None], faces[:, ::-1], faces)


# ----------------------------------------------------------------------------- closing


def close_surface(points: np.ndarray, rim: np.ndarray, sample: np.ndarray, faces: np.ndarray,
                  heights: np.ndarray, thickness: float) -> tuple[np.ndarray, np.ndarray]:
    """Front (+z) and back (−z) copies sharing the rim: (vertices (col, row, z), faces)."""
    z = np.zeros(len(points))
    raised = ~rim
    # every inside sample keeps some depth, so front and back never touch inside the rim
    z[raised] = thickness * np.sqrt(np.maximum(heights.ravel()[sample[raised]], 0.0025))
    back_index = np.arange(len(points))
    back_index[raised] = len(points) + np.arange(raised.sum())
    front = np.column_stack([points, z])
    back = np.column_stack([points[raised], -z[raised]])
    back_faces = back_index[faces][:, ::-1]
    return np.concatenate([front, back]), np.concatenate([faces, back_faces])


def to_picture(vertices: np.ndarray, frame: Frame) -> np.ndarray:
    """Grid units → picture pixels (x right, y down, z in pixels towards the viewer)."""
    out = np.empty_like(vertices)
    out[:, 0] = frame.x0 + (vertices[:, 0] + 0.5) * frame.step
    out[:, 1] = frame.y0 + (vertices[:, 1] + 0.5) * frame.step
    out[:, 2] = vertices[:, 2] * frame.step
    return out
