"""Soft-jointed creatures of known parts, for the segmentation tests and benchmark.

Each creature is a set of capsules and ellipsoids, each tagged with the part it belongs to
(a bent limb is two capsules of one part), blended by a smooth signed-distance union
(polynomial smooth-min, so the joints are fillets with no crease at all) and meshed by
marching cubes. A face's true part is that of the primitive nearest its centroid. Every
builder takes a seed that changes the pose, the proportions and the blend radius, so a
method tuned on some seeds can be checked on others it never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh


@dataclass(frozen=True)
class Capsule:
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    radius: float
    part: int

    def sdf(self, p: np.ndarray) -> np.ndarray:
        a, b = np.asarray(self.a, dtype=float), np.asarray(self.b, dtype=float)
        ab = b - a
        t = np.clip((p - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
        return np.linalg.norm(p - (a + t[:, None] * ab), axis=1) - self.radius


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    part: int

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Quilez's bound: exact on the surface, close to it nearby."""
        q = p - np.asarray(self.centre, dtype=float)
        r = np.asarray(self.radii, dtype=float)
        k0 = np.linalg.norm(q / r, axis=1)
        k1 = np.linalg.norm(q / r**2, axis=1)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


Primitive = Capsule | Ellipsoid


@dataclass(frozen=True)
class Creature:
    name: str
    mesh: trimesh.Trimesh
    labels: np.ndarray  # each face's true part, 0..parts-1
    parts: int


def smooth_union(values: list[np.ndarray], blend: float) -> np.ndarray:
    """Polynomial smooth-min of signed distances: a fillet of about ``blend`` at each joint."""
    out = values[0]
    for d in values[1:]:
        h = np.clip(0.5 + 0.5 * (d - out) / blend, 0.0, 1.0)
        out = d * (1 - h) + out * h - blend * h * (1 - h)
    return out


def mesh_creature(name: str, prims: list[Primitive], blend: float,
                  cells: int = 96) -> Creature:
    """Marching cubes of the blended solid on a grid of ``cells`` along its longest side."""
    from skimage.measure import marching_cubes

    lo, hi = _bounds(prims)
    pad = 2.0 * blend + 0.05 * float(np.max(hi - lo))
    lo, hi = lo - pad, hi + pad
    step = float(np.max(hi - lo)) / cells
    axes = [np.arange(lo[i], hi[i] + step, step) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    field = smooth_union([p.sdf(grid) for p in prims], blend).reshape(
        tuple(len(a) for a in axes))
    verts, faces, _, _ = marching_cubes(field, 0.0, spacing=(step, step, step))
    mesh = trimesh.Trimesh(verts + lo, faces, process=True)
    mesh.remove_unreferenced_vertices()
    parts = np.array([p.part for p in prims])
    near = np.stack([np.abs(p.sdf(mesh.triangles_center)) for p in prims], axis=1).argmin(axis=1)
    return Creature(name, mesh, parts[near], int(parts.max()) + 1)


def _bounds(prims: list[Primitive]) -> tuple[np.ndarray, np.ndarray]:
    lows, highs = [], []
    for p in prims:
        if isinstance(p, Capsule):
            ends = np.array([p.a, p.b], dtype=float)
            lows.append(ends.min(axis=0) - p.radius)
            highs.append(ends.max(axis=0) + p.radius)
        else:
            lows.append(np.asarray(p.centre) - p.radii)
            highs.append(np.asarray(p.centre) + p.radii)
    return np.min(lows, axis=0), np.max(highs, axis=0)


def _limb(start: np.ndarray, direction: np.ndarray, bend: np.ndarray, length: float,
          radius: float, part: int, taper: float = 0.85) -> list[Primitive]:
    """Two capsules end to end (upper and lower limb), the second turned by ``bend``."""
    d1 = direction / np.linalg.norm(direction)
    d2 = d1 + bend
    d2 = d2 / np.linalg.norm(d2)
    knee = start + d1 * length / 2
    foot = knee + d2 * length / 2
    return [Capsule(tuple(start), tuple(knee), radius, part),
            Capsule(tuple(knee), tuple(foot), radius * taper, part)]


# ----------------------------------------------------------------------------- creatures
# Y is up. Parts are numbered in the order they are made; the numbers only name the truth.


def quadruped(seed: int) -> tuple[list[Primitive], float]:
    """Body, head, tail and four legs: 7 parts."""
    rng = np.random.default_rng(seed)
    length, girth = rng.uniform(0.7, 1.0), rng.uniform(0.32, 0.42)
    prims: list[Primitive] = [Ellipsoid((0, 0, 0), (length, girth, girth * 0.9), 0)]
    head = np.array([length * 0.85 + 0.1, girth * 0.7 + rng.uniform(0.0, 0.15), 0])
    prims.append(Ellipsoid(tuple(head), tuple(np.array([0.3, 0.22, 0.2]) * rng.uniform(0.9, 1.2)), 1))
    prims += [Capsule((-length * 0.9, 0.1, 0),
                      (-length - rng.uniform(0.4, 0.7), rng.uniform(0.0, 0.5), 0), 0.06, 2)]
    leg_r, leg_len = rng.uniform(0.09, 0.13), rng.uniform(0.7, 1.0)
    for i, (x, z) in enumerate([(0.6, 0.18), (0.6, -0.18), (-0.6, 0.18), (-0.6, -0.18)]):
        start = np.array([x * length, -girth * 0.5, z * girth / 0.4])
        swing = rng.uniform(-0.35, 0.35)
        prims += _limb(start, np.array([swing, -1.0, 0.0]),
                       np.array([-swing * 0.8, 0.0, 0.0]), leg_len, leg_r, 3 + i)
    return prims, rng.uniform(0.1, 0.16)


def humanoid(seed: int) -> tuple[list[Primitive], float]:
    """Torso, head, two arms, two legs: 6 parts, in a random pose."""
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.5, 0.65)
    prims: list[Primitive] = [Ellipsoid((0, 0, 0), (rng.uniform(0.28, 0.36), h, 0.2), 0),
                              Ellipsoid((0, h + 0.22, 0), (0.17, 0.21, 0.18), 1)]
    arm_r, arm_len = rng.uniform(0.06, 0.08), rng.uniform(0.8, 1.0)
    leg_r, leg_len = rng.uniform(0.09, 0.11), rng.uniform(0.9, 1.1)
    for side, part in ((1, 2), (-1, 3)):
        raise_ = rng.uniform(-1.2, 0.5)  # arms down along the body .. up and out
        start = np.array([side * 0.28, h * 0.75, 0])
        prims += _limb(start, np.array([side * np.cos(raise_), np.sin(raise_), 0.1]),
                       np.array([0.0, rng.uniform(-0.3, 0.6), rng.uniform(0.0, 0.6)]),
                       arm_len, arm_r, part)
    for side, part in ((1, 4), (-1, 5)):
        start = np.array([side * 0.14, -h * 0.8, 0])
        prims += _limb(start, np.array([side * rng.uniform(0.05, 0.35), -1.0,
                                        rng.uniform(-0.3, 0.3)]),
                       np.array([0.0, 0.0, rng.uniform(-0.4, 0.0)]), leg_len, leg_r, part)
    return prims, rng.uniform(0.08, 0.13)


def teddy(seed: int) -> tuple[list[Primitive], float]:
    """Plump body, big head, two ears and four stubby limbs (a Wuson-like toy): 8 parts."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.45, 0.55)
    head_r = rng.uniform(0.33, 0.4)
    prims: list[Primitive] = [Ellipsoid((0, 0, 0), (b * 0.85, b, b * 0.75), 0),
                              Ellipsoid((0, b + head_r * 0.8, 0), (head_r,) * 3, 1)]
    for side, part in ((1, 2), (-1, 3)):
        ear = np.array([side * head_r * 0.75, b + head_r * 1.6, 0])
        prims.append(Ellipsoid(tuple(ear), (0.12, 0.12, 0.06), part))
    for side, part in ((1, 4), (-1, 5)):  # arms
        start = np.array([side * b * 0.7, b * 0.45, 0])
        tip = start + np.array([side * rng.uniform(0.35, 0.5), rng.uniform(-0.4, 0.1), 0.1])
        prims.append(Capsule(tuple(start), tuple(tip), rng.uniform(0.11, 0.14), part))
    for side, part in ((1, 6), (-1, 7)):  # legs, sitting: pointing forward
        start = np.array([side * b * 0.45, -b * 0.7, 0.1])
        tip = start + np.array([side * 0.1, -rng.uniform(0.15, 0.3), rng.uniform(0.35, 0.5)])
        prims.append(Capsule(tuple(start), tuple(tip), rng.uniform(0.14, 0.17), part))
    return prims, rng.uniform(0.1, 0.16)


def spider(seed: int) -> tuple[list[Primitive], float]:
    """Abdomen, thorax-head and six legs bent at the knee: 8 parts."""
    rng = np.random.default_rng(seed)
    prims: list[Primitive] = [Ellipsoid((-0.55, 0.1, 0), (0.45, 0.35, 0.35), 0),
                              Ellipsoid((0.2, 0, 0), (0.3, 0.2, 0.25), 1)]
    leg_len = rng.uniform(1.0, 1.3)
    for i, angle in enumerate(np.radians([40, 90, 140, -40, -90, -140])):
        angle += rng.uniform(-0.2, 0.2)
        out = np.array([np.cos(angle) * 0.5, 0.9, np.sin(angle)])
        start = np.array([0.2, 0, 0]) + np.array([np.cos(angle) * 0.2, 0, np.sin(angle) * 0.22])
        prims += _limb(start, out, np.array([0, -2.2, 0]) + rng.normal(0, 0.1, 3), leg_len,
                       rng.uniform(0.055, 0.07), 2 + i, taper=0.75)
    return prims, rng.uniform(0.06, 0.09)


CREATURES: dict[str, Callable[[int], tuple[list[Primitive], float]]] = {
    "quadruped": quadruped, "humanoid": humanoid, "teddy": teddy, "spider": spider,
}


def creature(name: str, seed: int, cells: int = 96) -> Creature:
    prims, blend = CREATURES[name](seed)
    return mesh_creature(f"{name}-{seed}", prims, blend, cells)


def iou_matching(pred: np.ndarray, true: np.ndarray,
                 area: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per true part: its IoU (by area) with the predicted part the Hungarian algorithm pairs
    it with, and which predicted part that is."""
    from scipy.optimize import linear_sum_assignment

    k = int(max(pred.max(), true.max())) + 1
    inter = np.zeros((k, k))
    np.add.at(inter, (true, pred), area)
    union = inter.sum(axis=1)[:, None] + inter.sum(axis=0)[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    rows, cols = linear_sum_assignment(-iou)
    real = rows <= int(true.max())  # padding rows stand for no true part
    return iou[rows[real], cols[real]], cols[real]
