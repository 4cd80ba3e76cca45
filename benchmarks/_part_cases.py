"""Objects of known primitives for the part tests and benchmarks, each with its exact
signed distance, so the truth (which face belongs to which primitive, what is inside the
object) needs no mesh query; and the two kinds of segmented input part completion gets:
the fused object cut by its known parts with holes where they touch, and generated-like
soups with fragments, holes, noise, debris and self-intersections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh

Sdf = Callable[[np.ndarray], np.ndarray]

# ----------------------------------------------------------------------------- shapes


@dataclass
class Primitive:
    """A solid a case is made of, with its exact signed distance."""

    mesh: trimesh.Trimesh
    sdf: Sdf


def _capped(q: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def box(centre: tuple[float, ...], extents: tuple[float, ...]) -> Primitive:
    mesh = trimesh.creation.box(extents=extents)
    mesh.apply_translation(centre)
    c, half = np.asarray(centre), np.asarray(extents) / 2.0
    return Primitive(mesh, lambda p: _capped(np.abs(p - c) - half))


def cylinder(centre: tuple[float, ...], axis: tuple[float, ...], radius: float, height: float,
             sections: int = 32) -> Primitive:
    mesh = trimesh.creation.cylinder(radius=radius, height=height, sections=sections)
    mesh.apply_transform(trimesh.geometry.align_vectors((0, 0, 1), axis))
    mesh.apply_translation(centre)
    c, a = np.asarray(centre, dtype=float), np.asarray(axis, dtype=float)

    def sdf(p: np.ndarray) -> np.ndarray:
        t = (p - c) @ a
        radial = np.linalg.norm((p - c) - t[:, None] * a, axis=1)
        return _capped(np.stack([radial - radius, np.abs(t) - height / 2.0], axis=1))

    return Primitive(mesh, sdf)


def sphere(centre: tuple[float, ...], radius: float) -> Primitive:
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    mesh.apply_translation(centre)
    return Primitive(mesh, lambda p: np.linalg.norm(p - np.asarray(centre), axis=1) - radius)


def table() -> list[Primitive]:
    """A top and four legs that reach 0.02 into it (so the union fuses them)."""
    legs = [cylinder((x, 0.48, z), (0, 1, 0), 0.06, 1.0, 24)
            for x in (-0.85, 0.85) for z in (-0.45, 0.45)]
    return [box((0, 1.0, 0), (2.0, 0.12, 1.2)), *legs]


def snowman() -> list[Primitive]:
    return [sphere((0, 0, 0), 1.0), sphere((0, 1.55, 0), 0.7), sphere((0, 2.6, 0), 0.45)]


def l_pipe() -> list[Primitive]:
    """Two cylinders meeting at a right angle, the upright one standing in the other's end."""
    return [cylinder((1.2, 0, 0), (1, 0, 0), 0.3, 3.0, 48),
            cylinder((0, 1.0, 0), (0, 1, 0), 0.3, 2.0, 48)]


SHAPES: dict[str, Callable[[], list[Primitive]]] = {
    "table": table, "snowman": snowman, "l_pipe": l_pipe,
}


def fused(primitives: list[Primitive], max_edge: float | None = None) -> trimesh.Trimesh:
    """ONE connected mesh: the boolean union (manifold3d), optionally subdivided finer."""
    union = trimesh.boolean.union([p.mesh for p in primitives], engine="manifold")
    if max_edge is not None:
        union = trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(
            union.vertices, union.faces, max_edge), process=False)
    assert union.body_count == 1 and union.is_watertight
    return union


def true_labels(mesh: trimesh.Trimesh, primitives: list[Primitive]) -> np.ndarray:
    """Each face's source primitive: the one whose surface its centroid lies on."""
    centres = mesh.triangles_center
    return np.stack([np.abs(p.sdf(centres)) for p in primitives], axis=1).argmin(axis=1)




def torus(centre: tuple[float, ...], major: float, minor: float) -> Primitive:
    """A ring in the xy plane."""
    mesh = trimesh.creation.torus(major, minor, major_sections=64, minor_sections=24)
    mesh.apply_translation(centre)
    c = np.asarray(centre, dtype=float)

    def sdf(p: np.ndarray) -> np.ndarray:
        d = p - c
        return np.hypot(np.hypot(d[:, 0], d[:, 1]) - major, d[:, 2]) - minor

    return Primitive(mesh, sdf)


def figure() -> list[Primitive]:
    """Torso, head, two slanted arms, two legs."""
    down_left, down_right = np.array([1, -1, 0]) / np.sqrt(2), np.array([-1, -1, 0]) / np.sqrt(2)
    return [box((0, 1.2, 0), (0.6, 1.0, 0.35)), sphere((0, 1.95, 0), 0.28),
            cylinder((-0.55, 1.25, 0), down_left, 0.09, 0.9),
            cylinder((0.55, 1.25, 0), down_right, 0.09, 0.9),
            cylinder((-0.18, 0.4, 0), (0, 1, 0), 0.11, 1.0),
            cylinder((0.18, 0.4, 0), (0, 1, 0), 0.11, 1.0)]


MORE_SHAPES: dict[str, Callable[[], list[Primitive]]] = {
    "figure": figure,
    "mug": lambda: [cylinder((0, 0, 0), (0, 1, 0), 0.5, 1.2), torus((0.55, 0, 0), 0.35, 0.07)],
    "dumbbell": lambda: [sphere((-1, 0, 0), 0.5), cylinder((0, 0, 0), (1, 0, 0), 0.15, 2.0),
                         sphere((1, 0, 0), 0.5)],
    "chair": lambda: [box((0, 0.5, 0), (1, 0.1, 1)), box((0, 1.0, -0.45), (1, 1.0, 0.1)),
                      *[box((x, 0.0, z), (0.1, 1.0, 0.1)) for x in (-0.42, 0.42)
                        for z in (-0.42, 0.42)]],
    "t_bar": lambda: [box((0, 0, 0), (2, 0.4, 0.4)), box((0, -1.0, 0), (0.4, 2, 0.4))],
    "ball_with_bumps": lambda: [sphere((0, 0, 0), 1.0), *[
        sphere(tuple(s * np.eye(3)[i]), 0.2) for i in range(3) for s in (-1.0, 1.0)]],
}



# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    """A segmented input for part completion and the truth it is measured against."""

    name: str
    parts: dict[str, trimesh.Trimesh]  # one mesh per part, named part_00...
    inside: Callable[[np.ndarray], np.ndarray]  # the object's solid: True inside
    visible: trimesh.Trimesh  # the input's faces that lie on the object's surface

    @property
    def faces(self) -> int:
        return sum(len(m.faces) for m in self.parts.values())

    def scene(self) -> trimesh.Scene:
        scene = trimesh.Scene()
        for name, mesh in self.parts.items():
            scene.add_geometry(mesh, node_name=name, geom_name=name)
        return scene


def union_sdf(primitives: list[Primitive]) -> Sdf:
    return lambda p: np.min([q.sdf(p) for q in primitives], axis=0)


def _inside_any(meshes: list[trimesh.Trimesh]) -> Callable[[np.ndarray], np.ndarray]:
    """Inside the union of closed meshes (by winding number)."""
    from adapters._shared.solid_grid import winding

    def inside(points: np.ndarray) -> np.ndarray:
        hit = np.zeros(len(points), dtype=bool)
        for m in meshes:
            hit |= winding(np.asarray(m.vertices), np.asarray(m.faces), points) > 0.5
        return hit

    return inside


def _split(mesh: trimesh.Trimesh, labels: np.ndarray) -> dict[str, trimesh.Trimesh]:
    return {f"part_{i:02d}": mesh.submesh([np.flatnonzero(labels == i)], append=True)
            for i in range(int(labels.max()) + 1) if (labels == i).any()}


def cut_case(name: str, primitives: list[Primitive], max_edge: float | None = None,
             hole: float = 0.0) -> Case:
    """The fused object cut by its known parts; with ``hole`` (a share of the diagonal),
    the faces that near where the parts touch are cut away too."""
    mesh = fused(primitives, max_edge)
    labels = true_labels(mesh, primitives)
    if hole > 0:
        centres = mesh.triangles_center
        distance = np.abs(np.stack([p.sdf(centres) for p in primitives], axis=1))
        distance[np.arange(len(labels)), labels] = np.inf
        keep = distance.min(axis=1) > hole * float(np.linalg.norm(np.ptp(mesh.bounds, axis=0)))
        mesh, labels = mesh.submesh([np.flatnonzero(keep)], append=True), labels[keep]
    sdf = union_sdf(primitives)
    return Case(name, _split(mesh, labels), lambda p: sdf(p) < 0, mesh)


def generated_case(name: str, primitives: list[Primitive], seed: int = 0,
                   edges_per_diagonal: int = 80) -> Case:
    """What a generator and a segmenter hand over: the primitives' surfaces overlapping
    without a union (self-intersections, faces inside the solid), lumpy, wound partly the
    wrong way, riddled with small holes, their labels ragged where parts meet and
    scattered in islands, with a few floating crumbs of debris. The truth is the union of
    the lumpy primitives (the solid the generator meant)."""
    rng = np.random.default_rng(seed)
    diag = float(np.linalg.norm(np.ptp(np.vstack([p.mesh.bounds for p in primitives]),
                                       axis=0)))
    meshes = [_bumpy(p.mesh, diag / edges_per_diagonal, 0.001 * diag, rng) for p in primitives]
    inside = _inside_any(meshes)
    outer = np.concatenate([_outer_faces(meshes, i) for i in range(len(meshes))])
    mesh = trimesh.util.concatenate(meshes)
    labels = np.repeat(np.arange(len(meshes)), [len(m.faces) for m in meshes])
    labels = _ragged_labels(mesh, labels, primitives, 0.015 * diag, rng)
    keep = _holes(mesh, 0.012 * diag, 25, rng)
    mesh, labels, outer = mesh.submesh([np.flatnonzero(keep)], append=True), labels[keep], \
        outer[keep]
    flip = rng.random(len(mesh.faces)) < 0.03
    mesh.faces[flip] = mesh.faces[flip][:, ::-1]
    visible = mesh.submesh([np.flatnonzero(outer)], append=True)
    mesh, labels = _with_debris(mesh, labels, diag, rng)
    return Case(name, _split(mesh, labels), inside, visible)


def _outer_faces(meshes: list[trimesh.Trimesh], i: int) -> np.ndarray:
    """Which faces of ``meshes[i]`` lie outside every other mesh (on the union's surface)."""
    others = [m for j, m in enumerate(meshes) if j != i]
    return ~_inside_any(others)(meshes[i].triangles_center) if others else \
        np.ones(len(meshes[i].faces), dtype=bool)


def _bumpy(mesh: trimesh.Trimesh, edge: float, amplitude: float,
           rng: np.random.Generator) -> trimesh.Trimesh:
    """Finer triangles, pushed in and out along their normals by a few random waves (a
    lumpy generated surface, smooth at the scale of its triangles)."""
    v, f = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, edge)
    out = trimesh.Trimesh(v, f)  # merged: bumps must not open the seams
    waves = rng.normal(0.0, 1.0, (6, 3)) / (5.0 * edge)
    phase = rng.uniform(0.0, 2.0 * np.pi, 6)
    height = np.sin(out.vertices @ waves.T + phase).sum(axis=1) / np.sqrt(3.0)
    out.vertices += out.vertex_normals * (amplitude * height)[:, None]
    return out


def _ragged_labels(mesh: trimesh.Trimesh, labels: np.ndarray, primitives: list[Primitive],
                   band: float, rng: np.random.Generator) -> np.ndarray:
    """Near another primitive's surface a face goes to it half the time (a ragged cut),
    and a few patches anywhere go to the part of the nearest other primitive (islands)."""
    centres = mesh.triangles_center
    distance = np.abs(np.stack([p.sdf(centres) for p in primitives], axis=1))
    distance[np.arange(len(labels)), labels] = np.inf
    other = distance.argmin(axis=1)
    labels = np.where((distance.min(axis=1) < band) & (rng.random(len(labels)) < 0.5),
                      other, labels)
    for seed in rng.choice(len(labels), 8, replace=False):
        patch = np.linalg.norm(centres - centres[seed], axis=1) < band
        labels = np.where(patch, other[seed], labels)
    return labels


def _holes(mesh: trimesh.Trimesh, radius: float, count: int,
           rng: np.random.Generator) -> np.ndarray:
    """Which faces are left once ``count`` round holes are cut."""
    centres = mesh.triangles_center
    keep = np.ones(len(centres), dtype=bool)
    for seed in rng.choice(len(centres), count, replace=False):
        keep &= np.linalg.norm(centres - centres[seed], axis=1) > radius
    return keep


def _with_debris(mesh: trimesh.Trimesh, labels: np.ndarray, diag: float,
                 rng: np.random.Generator) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Three crumbs floating just off the surface, each labelled as some part."""
    crumbs = []
    for _ in range(3):
        crumb = trimesh.creation.icosphere(subdivisions=1, radius=0.006 * diag)
        anchor = mesh.vertices[rng.integers(len(mesh.vertices))]
        crumb.apply_translation(anchor + rng.normal(0, 1, 3) / np.sqrt(3) * 0.03 * diag)
        crumbs.append(crumb)
    extra = np.concatenate([np.full(len(c.faces), rng.integers(labels.max() + 1))
                            for c in crumbs])
    return trimesh.util.concatenate([mesh, *crumbs]), np.concatenate([labels, extra])
