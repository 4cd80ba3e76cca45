"""Auto-rig, step 0: the surfaces the rig is computed on.

The artist's mesh is returned untouched; the rig is computed on a welded copy (seams
merged, so heat flows across them) and, for large meshes, on a simplified one made by
vertex clustering on a grid a little finer than the skeleton's voxels. Quadric
simplification keeps shapes better, but it can stall for seconds short of its target (it
did on a clean, watertight subdivided figure), while clustering takes linear time on any
input, soups and non-manifold meshes included, and loses nothing the voxels keep.
"""

from __future__ import annotations

import numpy as np

from engine.errors import InvalidInput

SOLVE_FACES = 30_000  # above this, weights are solved on a simplified copy
# Triangles probed to tell a solid from a sheet. The test is a share (at least 20% of the
# probes inside on one side; a solid has nearly all, a sheet none), which 250 random probes
# pin to within ~3%; each probe so near the surface costs the winding number ~5 us.
_VOLUME_PROBES = 250


def weld(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices at the same place merged and degenerate triangles dropped; with each
    original vertex's index in the welded mesh."""
    from adapters._shared.repair import weld as weld_seams

    scale = max(float(np.ptp(vertices, axis=0).max()), 1e-30)
    welded, merged, inverse = weld_seams(vertices, faces, scale * 1e-7)
    return welded, _clean(merged), inverse


def _clean(faces: np.ndarray) -> np.ndarray:
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    return faces[ok]


def solve_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh the weights are solved on: ``vertices``/``faces`` themselves when small,
    else a clustered copy with about ``SOLVE_FACES`` triangles."""
    if len(faces) <= SOLVE_FACES:
        return vertices, faces
    small_v, small_f = _cluster(vertices, faces, SOLVE_FACES)
    return (small_v, small_f) if len(small_f) else (vertices, faces)


def _cluster(vertices: np.ndarray, faces: np.ndarray,
             target: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex clustering on a grid sized for about ``target`` triangles."""
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    cell = max(np.sqrt(2.3 * area.sum() / target), 1e-12)
    keys = np.floor((vertices - vertices.min(axis=0)) / cell).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    centres = np.zeros((len(counts), 3))
    np.add.at(centres, inverse, vertices)
    centres /= counts[:, None]
    merged = _clean(inverse[faces])
    # triangles that collapsed onto each other count once (keeping their winding)
    _, once = np.unique(np.sort(merged, axis=1), axis=0, return_index=True)
    merged = merged[np.sort(once)]
    used = np.unique(merged)
    remap = np.full(len(centres), -1)
    remap[used] = np.arange(len(used))
    return centres[used], remap[merged]


def require_volume(vertices: np.ndarray, faces: np.ndarray, label: str) -> None:
    """One sentence unless the mesh encloses a volume: probed just off both sides of its
    triangles, a solid's winding number is near 1 on one side; a sheet's is near 1/2 on both."""
    import igl

    size = float(np.ptp(vertices, axis=0).max())
    extents = np.linalg.svd(vertices - vertices.mean(axis=0), compute_uv=False)
    pick = np.random.default_rng(0).choice(
        len(faces), min(len(faces), _VOLUME_PROBES), replace=False)
    tri = vertices[faces[pick]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    keep = length[:, 0] > 0
    offset = normal[keep] / length[keep] * (1e-4 * size)
    centre = tri[keep].mean(axis=1)
    probes = np.concatenate([centre + offset, centre - offset])
    winding = np.abs(igl.fast_winding_number(vertices, faces, probes)).reshape(2, -1).max(axis=0)
    if extents.min() <= 1e-6 * extents.max() or np.mean(winding > 0.75) < 0.2:
        raise InvalidInput(
            f"{label} is flat or an open sheet with no volume inside, so it cannot hold a "
            "skeleton; give a closed (or nearly closed) model."
        )
