"""Baking a projected picture into a UV atlas, and filling what the camera cannot see.

Every texel is traced to its surface point (a rasterization in UV space). A texel is *seen*
when its point is in the picture, nearest to the camera (a depth buffer rendered in the
picture's pixels) and not at a grazing angle. Unseen colours come from a diffusion over the
surface: on a finely subdivided copy of the mesh, seen vertices hold the picture's colour
(Dirichlet values) and the others solve the graph Laplace equation, so a colour flows round
the mesh across UV seams rather than across the empty space between atlas charts. Texels
near the edge of the seen part blend the two by viewing angle, which hides the boundary,
and the atlas gutters are filled by push-pull so mipmaps never show black seams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adapters._shared.raster import grow_charts, rasterize
from adapters._shared.surface_geometry import unit, vertex_normals
from adapters.project_paint._camera import Camera, Fit
from engine.contract.protocol import AdapterError

_DEPTH_SIDE = 1024  # the depth buffer's longer side, in pixels
_DEPTH_TOLERANCE = 0.01  # of the mesh's bounding diagonal: same-surface depths differ this little
_SUBDIVIDE_FACES = 120_000  # the diffusion mesh grows by subdivision up to about this size
_SEEN_COS = (0.05, 0.3)  # facing cosines over which a texel goes from unseen to fully seen
_GROW_RINGS = 2  # texels round each chart that get its own colours (bilinear and mip safety)


@dataclass
class Picture:
    rgb: np.ndarray  # (H, W, 3) float32
    alpha: np.ndarray | None  # (H, W) float32 object coverage, or None: all of it is object
    fit: Fit


@dataclass
class Bake:
    texture: np.ndarray  # (size, size, 3) float32, 0-255
    seen_fraction: float  # of the surface's texels, how many took the picture's colour


class _Visibility:
    """The picture's depth buffer, and the question: is this surface point what it shows?"""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, camera: Camera,
                 picture: Picture) -> None:
        height, width = picture.rgb.shape[:2]
        self.scale = min(1.0, _DEPTH_SIDE / max(height, width))
        self.size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        self.camera, self.picture = camera, picture
        self.tolerance = _DEPTH_TOLERANCE * float(np.linalg.norm(np.ptp(vertices, axis=0)))
        pixels, depth = self._pixels(vertices)
        self.raster = rasterize(pixels * self.scale, faces, *self.size, depth=depth)

    def _pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        plane, depth = self.camera.project(points)
        return self.picture.fit.to_pixels(plane), depth

    def seen(self, points: np.ndarray, normals: np.ndarray,
             faces: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(weight in [0, 1], picture pixel positions) for surface points."""
        pixels, depth = self._pixels(points)
        width, height = self.size
        col = np.floor(pixels[:, 0] * self.scale).astype(np.int64)
        row = np.floor(pixels[:, 1] * self.scale).astype(np.int64)
        inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        col, row = np.clip(col, 0, width - 1), np.clip(row, 0, height - 1)
        nearest = depth <= self.raster.depth[row, col] + self.tolerance
        if faces is not None:  # the buffer shows this very triangle: seen, whatever the depth
            nearest |= self.raster.face[row, col] == faces
        cosine = np.abs((normals * self.camera.towards(points)).sum(axis=1))
        weight = np.clip((cosine - _SEEN_COS[0]) / (_SEEN_COS[1] - _SEEN_COS[0]), 0.0, 1.0)
        weight = weight * (inside & nearest)
        if self.picture.alpha is not None:
            weight = weight * _sample(self.picture.alpha[..., None], pixels)[:, 0]
        return weight, pixels


def bake(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, camera: Camera,
         picture: Picture, size: int, step: Callable[[str, float], None]) -> Bake:
    from adapters._shared.texture import push_pull_fill

    step("finding what the camera sees", 0.35)
    visibility = _Visibility(vertices, faces, camera, picture)
    uv_pixels = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]]) * size
    texels = grow_charts(rasterize(uv_pixels, faces, size, size), uv_pixels[faces], _GROW_RINGS)
    covered = texels.face >= 0
    face = texels.face[covered]
    bary = texels.bary[covered].astype(np.float64)[..., None]
    points = (bary * vertices[faces[face]]).sum(axis=1)
    normals = unit((bary * vertex_normals(vertices, faces)[faces[face]]).sum(axis=1))
    weight, pixels = visibility.seen(points, normals, face)
    if not (weight > 0.5).any():
        raise AdapterError("The picture covers no visible part of the mesh from this view; "
                           "try another view or fit.")
    step("diffusing colour into the unseen parts", 0.55)
    colours = _sample(picture.rgb, pixels)
    unseen = weight < 1.0
    if unseen.any():
        diffused = _SurfaceDiffusion(vertices, faces, visibility, picture).colours_at(
            points[unseen], normals[unseen])
        w = weight[unseen, None]
        colours[unseen] = w * colours[unseen] + (1.0 - w) * diffused
    step("filling the atlas gutters", 0.85)
    texture = np.zeros((size, size, 3), np.float32)
    texture[covered] = colours
    texture = push_pull_fill(texture, covered)
    return Bake(texture, float((weight > 0.5).mean()))


class _SurfaceDiffusion:
    """Colours for the whole surface from the seen part, by the graph Laplace equation."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, visibility: _Visibility,
                 picture: Picture) -> None:
        self.points, self.faces = _fine_copy(vertices, faces)
        self.normals = vertex_normals(self.points, self.faces)
        weight, pixels = visibility.seen(self.points, self.normals)
        known = weight > 0.5
        if not known.any():
            known = weight > 0  # a coarse view of a small part: any sight is better than none
        self.colours = _laplace_fill(self.points, self.faces, known,
                                     _sample(picture.rgb, pixels[known]))

    def colours_at(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        from scipy.spatial import cKDTree

        k = min(6, len(self.points))
        distance, index = cKDTree(self.points).query(points, k=k)
        distance, index = distance.reshape(len(points), k), index.reshape(len(points), k)
        # same-side neighbours only: a thin wall's far side is near in space, not on the surface
        agree = np.clip((self.normals[index] * normals[:, None]).sum(axis=2), 0.0, 1.0)
        weights = agree / np.maximum(distance, 1e-9) + 1e-12
        return (weights[..., None] * self.colours[index]).sum(axis=1) / weights.sum(axis=1)[:, None]


def _fine_copy(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Welded (UV seams closed) and subdivided until edges are short or the size budget is
    spent, so the diffusion has enough vertices even on a 12-triangle box."""
    import trimesh

    welded = trimesh.Trimesh(vertices, faces, process=True)
    v, f = np.asarray(welded.vertices), np.asarray(welded.faces)
    target = float(np.linalg.norm(np.ptp(v, axis=0))) / 96
    while len(f) * 4 <= _SUBDIVIDE_FACES:
        edges = v[f[:, [1, 2, 0]]] - v[f]
        if np.linalg.norm(edges, axis=2).max() <= target:
            break
        v, f = trimesh.remesh.subdivide(v, f)
    return v, f


def _laplace_fill(points: np.ndarray, faces: np.ndarray, known: np.ndarray,
                  values: np.ndarray) -> np.ndarray:
    """Solve L x = 0 on the unknown vertices with the known ones fixed. Cotangent weights
    make the result follow the surface, not the triangulation (uniform weights fan out from
    high-valence vertices); clipping them positive keeps the solution within the colours
    it starts from. A small pull towards the mean keeps parts no known vertex reaches."""
    from scipy import sparse
    from scipy.sparse.linalg import factorized

    n = len(points)
    rows, cols, weights = [], [], []
    for k in range(3):  # the angle at corner k weighs the edge opposite it
        a, b, c = faces[:, k], faces[:, (k + 1) % 3], faces[:, (k + 2) % 3]
        u, v = points[b] - points[a], points[c] - points[a]
        cot = (u * v).sum(axis=1) / np.maximum(np.linalg.norm(np.cross(u, v), axis=1), 1e-12)
        rows.append(b), cols.append(c), weights.append(0.5 * np.clip(cot, 0.01, 100.0))
    r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
    adjacency = sparse.coo_matrix((np.concatenate([w, w]), (np.concatenate([r, c]),
                                                             np.concatenate([c, r]))), (n, n))
    adjacency = adjacency.tocsr()
    laplacian = sparse.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    result = np.zeros((n, 3))
    result[known] = values
    unknown = ~known
    if not unknown.any():
        return result
    mean = values.mean(axis=0)
    regular = 1e-4
    system = (laplacian[unknown][:, unknown] + regular * sparse.eye(int(unknown.sum()))).tocsc()
    rhs = -(laplacian[unknown][:, known] @ values) + regular * mean
    solve = factorized(system)
    result[unknown] = np.column_stack([solve(rhs[:, c]) for c in range(3)])
    return result


def _sample(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at picture positions (pixel centres at +0.5)."""
    import cv2

    count, width = len(pixels), 1024  # remap's maps must stay under 32767 on each side
    if count == 0:
        return np.zeros((0, image.shape[2]))
    padded = np.zeros((-(-count // width) * width, 2), np.float32)
    padded[:count] = pixels - 0.5
    maps = padded.reshape(-1, width, 2)
    out = cv2.remap(np.ascontiguousarray(image, dtype=np.float32), maps[..., 0].copy(),
                    maps[..., 1].copy(), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, image.shape[2])[:count].astype(np.float64)
