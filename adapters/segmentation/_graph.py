"""The face graph that segmentation cuts: faces are nodes, shared edges carry a cut cost.

Cutting along a concave crease is cheap and cutting across flat or convex surface is
expensive (the minima rule: people see part boundaries along concavities). Loose pieces are
bridged to their nearest neighbour so that every part can be one connected region, and big
meshes are coarsened into compact patches so spectral clustering stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from adapters._shared.repair import HalfEdges, groups, half_edges, pair_keys

# Convex creases count for a tenth of a concave one: a table's top edge is not a part boundary.
CONVEX_WEIGHT = 0.1
# Concavity (1 - cos of the dihedral angle) at which a cut costs 1/e of a flat one: about 25°.
CONCAVE_SCALE = 0.1
# The same at the scale of the model: nearby surface rising above a face (mean sine of its
# elevation, within REGION_RADIUS of a unit-diagonal model) that makes a cut cost 1/e.
REGION_SCALE = 0.05
REGION_RADIUS = 0.03
REGION_SAMPLES = 40_000
REGION_NEIGHBOURS = 32
# Thickness (log of the inscribed radius, per unit of the unit diagonal) changing faster than
# THICKNESS_FLOOR marks a smooth joint; each THICKNESS_SCALE beyond it counts as much as a
# concave crease of CONCAVE_SCALE. Chosen by measurement (docs/benchmarks.md, segmentation).
THICKNESS_FLOOR = 6.0
THICKNESS_SCALE = 5.0
THICKNESS_STEP = 0.005
# Bridges between loose pieces are cheap to cut: touching pieces are usually separate parts.
BRIDGE_COST = 1e-3
# Spectral clustering runs on at most this many nodes; bigger meshes are grouped into patches.
MAX_NODES = 3000


@dataclass
class FaceGraph:
    """Face adjacency with per-edge cut costs (``edges`` holds face pairs, i < j)."""

    n: int
    edges: np.ndarray  # (m, 2) face indices
    cost: np.ndarray  # (m,) what cutting the edge costs: length, discounted by concavity
    snap_cost: np.ndarray  # (m,) the same with the dihedral angle alone: where exactly to cut
    concavity: np.ndarray  # (m,) 0 for flat, up to 2 for a fold; convex creases scaled down
    dist: np.ndarray  # (m,) centroid-to-centroid distance
    area: np.ndarray  # (n,) face areas
    length: np.ndarray  # (m,) what the cost would be with no cue at all: the edge's length

    def matrix(self, values: np.ndarray | None = None) -> sparse.csr_matrix:
        """The symmetric n x n matrix with ``values`` (default: cut costs) on the edges."""
        v = self.cost if values is None else values
        i, j = self.edges[:, 0], self.edges[:, 1]
        m = sparse.coo_matrix((np.r_[v, v], (np.r_[i, j], np.r_[j, i])), shape=(self.n, self.n))
        return m.tocsr()


def build_face_graph(mesh: trimesh.Trimesh, edges: HalfEdges | None = None) -> FaceGraph:
    """The cut-cost graph of ``mesh``'s faces (vertices must already be merged). ``edges``:
    its faces' half-edges, when the caller has grouped them already."""
    faces = np.asarray(mesh.faces, dtype=np.int64)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    pairs, shared = _shared_edges(edges if edges is not None else half_edges(faces))
    corners = vertices[faces]
    centroids = corners.mean(axis=1)
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    double_area = np.linalg.norm(cross, axis=1)
    normals = np.divide(cross, double_area[:, None], out=np.zeros_like(cross),
                        where=double_area[:, None] > 0)
    length = np.linalg.norm(vertices[shared[:, 0]] - vertices[shared[:, 1]], axis=1)
    region = region_concavity(corners, centroids, normals, double_area)
    local = _concavity(pairs, normals, centroids)
    # a crease rounded over many small faces is as much a boundary as a sharp one
    concavity = local + (CONCAVE_SCALE / REGION_SCALE) * (
        np.maximum(region[pairs[:, 0]], region[pairs[:, 1]]))
    dist = np.linalg.norm(centroids[pairs[:, 0]] - centroids[pairs[:, 1]], axis=1)
    # a floor keeps slivers and zero-length edges in the graph, just weakly
    scale = max(float(np.median(length)) if len(length) else 0.0, 1e-12)
    # a smooth joint has no crease, but the solid's thickness changes fast across it
    concavity = concavity + CONCAVE_SCALE * thickness_change(
        vertices, faces, centroids, normals, pairs)
    cost = (length + 1e-3 * scale) * np.exp(-concavity / CONCAVE_SCALE)
    snap = (length + 1e-3 * scale) * np.exp(-local / CONCAVE_SCALE)
    graph = FaceGraph(len(faces), pairs, cost, snap, concavity, dist, double_area / 2.0,
                      length + 1e-3 * scale)
    return _bridge_pieces(graph, centroids, scale)


def thickness_change(vertices: np.ndarray, faces: np.ndarray, centroids: np.ndarray,
                     normals: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Per face pair, how fast the log of the solid's thickness changes between them, above
    THICKNESS_FLOOR and in units of THICKNESS_SCALE (0 where it changes slowly). Distances
    below THICKNESS_STEP count as THICKNESS_STEP: thickness is read from voxels, so sliver
    faces must not turn a voxel step into a steep change."""
    from adapters.segmentation._thickness import face_thickness

    if len(pairs) == 0:
        return np.zeros(0)
    log_thick = np.log(face_thickness(vertices, faces, centroids, normals, pairs))
    dist = np.linalg.norm(centroids[pairs[:, 0]] - centroids[pairs[:, 1]], axis=1)
    rate = np.abs(log_thick[pairs[:, 0]] - log_thick[pairs[:, 1]]) / np.maximum(dist, THICKNESS_STEP)
    return np.maximum(rate - THICKNESS_FLOOR, 0.0) / THICKNESS_SCALE


def region_concavity(corners: np.ndarray, centroids: np.ndarray, normals: np.ndarray,
                     weights: np.ndarray, radius: float = REGION_RADIUS) -> np.ndarray:
    """Per face, how much the surface within ``radius`` rises above its tangent plane (mean
    sine of the elevation of nearby surface samples; 0 where it is flat or convex). Measured
    at a fixed scale of the model, not of its triangles, on area-uniform surface samples;
    each face takes the value of a nearby sample facing its way."""
    total = weights.sum()
    if total <= 0 or len(corners) == 0:
        return np.zeros(len(centroids))
    rng = np.random.default_rng(0)
    count = int(min(REGION_SAMPLES, max(2 * len(centroids), 1000)))
    picked = rng.choice(len(corners), size=count, p=weights / total)
    bary = rng.random((count, 2))
    bary = np.where(bary.sum(axis=1, keepdims=True) > 1, 1 - bary, bary)
    tri = corners[picked]
    points = tri[:, 0] + bary[:, :1] * (tri[:, 1] - tri[:, 0]) + bary[:, 1:] * (tri[:, 2] - tri[:, 0])
    facing = normals[picked]
    tree = cKDTree(points)
    dist, idx = tree.query(points, k=REGION_NEIGHBOURS + 1, distance_upper_bound=radius,
                           workers=-1)
    valid = np.isfinite(dist) & (dist > 1e-9 * radius)
    offsets = points[np.minimum(idx, count - 1)] - points[:, None, :]
    sine = np.einsum("ij,ikj->ik", facing, offsets) / np.where(valid, dist, 1.0)
    rising = np.where(valid, np.maximum(sine, 0.0), 0.0).sum(axis=1)
    at_sample = rising / np.maximum(valid.sum(axis=1), 1)
    _, near = tree.query(centroids, k=min(4, count), workers=-1)
    near = near.reshape(len(centroids), -1)
    best = np.einsum("ij,ikj->ik", normals, facing[near]).argmax(axis=1)
    return at_sample[near[np.arange(len(near)), best]]


def _shared_edges(edges: HalfEdges) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of faces sharing an edge, and that edge's two vertices. An edge with more than
    two faces (non-manifold) chains them, so they stay connected without a clique."""
    order = edges.order
    owner, ends = order // 3, edges.ends[order]
    continues = np.ones(len(order), dtype=bool)  # the half-edge is not its edge's first
    continues[edges.start] = False
    same = continues[1:] & (owner[1:] != owner[:-1]) & (ends[1:, 0] != ends[1:, 1])
    pairs = np.sort(np.stack([owner[:-1][same], owner[1:][same]], axis=1), axis=1)
    shared = ends[1:][same]
    if len(pairs) == 0:
        return pairs.reshape(0, 2), shared.reshape(0, 2)
    # two faces sharing two edges are one pair (the first edge's)
    by_pair, first, _ = groups(pair_keys(pairs))
    keep = np.minimum.reduceat(by_pair, first)
    return pairs[keep], shared[keep]


def _concavity(pairs: np.ndarray, normals: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    ni, nj = normals[pairs[:, 0]], normals[pairs[:, 1]]
    bend = 1.0 - np.clip(np.einsum("ij,ij->i", ni, nj), -1.0, 1.0)
    d = centroids[pairs[:, 1]] - centroids[pairs[:, 0]]
    # concave when each face's neighbour rises above its own tangent plane
    rise = np.einsum("ij,ij->i", ni - nj, d)
    concave = rise > 1e-9 * np.linalg.norm(d, axis=1)
    return np.where(concave, bend, CONVEX_WEIGHT * bend)


def _bridge_pieces(graph: FaceGraph, centroids: np.ndarray, scale: float) -> FaceGraph:
    """Join loose pieces along a spanning tree of nearest faces, so the graph is one
    connected whole and a part made of touching pieces still counts as connected."""
    count, comp = csgraph.connected_components(graph.matrix(), directed=False)
    if count <= 1:
        return graph
    k = min(len(centroids), 8)
    dist, idx = cKDTree(centroids).query(centroids, k=k)
    a = np.repeat(np.arange(len(centroids)), k)
    b, d = idx.reshape(-1), dist.reshape(-1)
    keep = comp[a] != comp[b]
    a, b, d = a[keep], b[keep], d[keep]
    while True:
        a, b, d = _spanning_links(comp, count, a, b, d)
        groups, group_of = csgraph.connected_components(
            _piece_matrix(comp, count, a, b, d), directed=False)
        if groups == 1:
            break
        # clusters of pieces far apart: find each cluster's nearest face outside it exactly
        ea, eb, ed = _nearest_outside(centroids, group_of[comp], groups)
        a, b, d = np.r_[a, ea], np.r_[b, eb], np.r_[d, ed]
    new = np.sort(np.stack([a, b], axis=1), axis=1)
    return FaceGraph(
        graph.n, np.vstack([graph.edges, new]),
        np.r_[graph.cost, np.full(len(new), BRIDGE_COST * scale)],
        np.r_[graph.snap_cost, np.full(len(new), BRIDGE_COST * scale)],
        np.r_[graph.concavity, np.zeros(len(new))], np.r_[graph.dist, d], graph.area,
        np.r_[graph.length, np.full(len(new), BRIDGE_COST * scale)],
    )


def _piece_matrix(comp: np.ndarray, count: int, a: np.ndarray, b: np.ndarray,
                  d: np.ndarray) -> sparse.csr_matrix:
    return sparse.coo_matrix((d + 1e-12, (comp[a], comp[b])), shape=(count, count)).tocsr()


def _spanning_links(comp: np.ndarray, count: int, a: np.ndarray, b: np.ndarray,
                    d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face links of a minimum spanning forest over pieces (closest link per pair)."""
    if len(a) == 0:
        return a, b, d
    lo, hi = np.minimum(comp[a], comp[b]), np.maximum(comp[a], comp[b])
    order = np.lexsort((d, hi, lo))
    lo, hi, a, b, d = lo[order], hi[order], a[order], b[order], d[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
    lo, hi, a, b, d = lo[first], hi[first], a[first], b[first], d[first]
    tree = csgraph.minimum_spanning_tree(
        sparse.coo_matrix((d + 1e-12, (lo, hi)), shape=(count, count))).tocoo()
    picked = np.minimum(tree.row, tree.col).astype(np.int64) * count + np.maximum(tree.row, tree.col)
    mask = np.isin(lo.astype(np.int64) * count + hi, picked)
    return a[mask], b[mask], d[mask]


def _nearest_outside(centroids: np.ndarray, group: np.ndarray,
                     groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out_a, out_b, out_d = [], [], []
    for g in range(groups):
        inside = np.flatnonzero(group == g)
        outside = np.flatnonzero(group != g)
        d, j = cKDTree(centroids[inside]).query(centroids[outside])
        best = int(np.argmin(d))
        out_a.append(inside[j[best]])
        out_b.append(outside[best])
        out_d.append(d[best])
    return np.array(out_a), np.array(out_b), np.array(out_d)


# ----------------------------------------------------------------------------- coarsening


@dataclass
class Coarse:
    """A patch graph: ``patch_of[f]`` is face f's patch; ``weights`` sums the cut costs of the
    face edges between two patches; ``area`` is each patch's area."""

    patch_of: np.ndarray
    weights: sparse.csr_matrix
    area: np.ndarray
    lengths: sparse.csr_matrix  # the same sums of the edges' plain lengths


def coarsen(graph: FaceGraph, max_nodes: int = MAX_NODES, seed: int = 0) -> Coarse:
    """Group faces into at most ``max_nodes`` compact patches that avoid crossing creases:
    graph Voronoi cells around random seed faces, with concave edges made long."""
    if graph.n <= max_nodes:
        patch_of = np.arange(graph.n)
    else:
        rng = np.random.default_rng(seed)
        seeds = np.sort(rng.choice(graph.n, size=max_nodes, replace=False))
        length = graph.dist * (1.0 + 50.0 * graph.concavity) + 1e-12
        _, _, source = csgraph.dijkstra(graph.matrix(length), directed=False, indices=seeds,
                                        min_only=True, return_predecessors=True)
        # graph is connected (pieces bridged), so every face has a source
        _, patch_of = np.unique(source, return_inverse=True)
    return _patch_graph(graph, patch_of)


def _patch_graph(graph: FaceGraph, patch_of: np.ndarray) -> Coarse:
    n = int(patch_of.max()) + 1
    area = np.bincount(patch_of, weights=graph.area, minlength=n)
    return Coarse(patch_of, _patch_sums(graph, patch_of, graph.cost), area,
                  _patch_sums(graph, patch_of, graph.length))


def _patch_sums(graph: FaceGraph, patch_of: np.ndarray, values: np.ndarray) -> sparse.csr_matrix:
    """Per pair of patches, the sum of ``values`` over the face edges between them."""
    n = int(patch_of.max()) + 1
    a, b = patch_of[graph.edges[:, 0]], patch_of[graph.edges[:, 1]]
    between = a != b
    w = sparse.coo_matrix(
        (np.r_[values[between], values[between]],
         (np.r_[a[between], b[between]], np.r_[b[between], a[between]])), shape=(n, n)).tocsr()
    w.sum_duplicates()
    return w
