"""Small, fast repairs that geometry adapters share (numpy and scipy only, no Python loops
over faces except one cheap pass)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


def directed_edges(faces: np.ndarray) -> np.ndarray:
    """Half-edge k = 3 * face + corner runs from that corner to the next one."""
    return faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)


def pair_keys(pairs: np.ndarray) -> np.ndarray:
    """One int64 per (a, b) row, equal exactly when the rows are (np.unique on rows is slow)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    base = int(pairs.max()) + 1 if len(pairs) else 1
    return pairs[:, 0] * base + pairs[:, 1]


def edge_counts(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every half-edge: the id of its undirected edge, and how many faces share that."""
    undirected = np.sort(directed_edges(faces), axis=1)
    _, inverse, counts = np.unique(pair_keys(undirected), return_inverse=True,
                                   return_counts=True)
    inverse = inverse.reshape(-1)
    return inverse, counts[inverse]


def halfedge_pairs(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two half-edges of every edge that exactly two faces share."""
    inverse, counts = edge_counts(faces)
    two = np.flatnonzero(counts == 2)
    order = np.argsort(inverse[two], kind="stable")
    pairs = two[order].reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def edge_pairs(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every edge shared by exactly two faces: the two faces, and whether they run along
    it in the same direction (which means one of them is flipped)."""
    k1, k2 = halfedge_pairs(faces)
    directed = directed_edges(faces)
    same = directed[k1, 0] == directed[k2, 0]
    distinct = k1 // 3 != k2 // 3
    return k1[distinct] // 3, k2[distinct] // 3, same[distinct]


def orient_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``faces`` with winding made consistent across manifold edges, each connected piece
    turned to enclose positive volume (normals out). Face order is kept."""
    faces = np.asarray(faces, dtype=np.int64)
    n = len(faces)
    if n == 0:
        return faces
    a, b, flipped = edge_pairs(faces)
    count, comp = csgraph.connected_components(
        sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    # a virtual root joined to one face per piece lets one breadth-first pass cover them all
    roots = np.unique(comp, return_index=True)[1]
    rows = np.r_[a, b, np.full(count, n)]
    cols = np.r_[b, a, roots]
    parity = np.r_[flipped, flipped, np.zeros(count, dtype=bool)].astype(np.int8) + 1
    # two faces sharing two edges would otherwise add their parities up
    _, once = np.unique(pair_keys(np.stack([rows, cols], axis=1)), return_index=True)
    tree = sparse.csr_matrix((parity[once], (rows[once], cols[once])), shape=(n + 1, n + 1))
    tree = tree.maximum(tree.T)  # the root's links go both ways too
    order, pred = csgraph.breadth_first_order(tree, n, directed=False)
    order = order[1:]
    step = np.asarray(tree[order, pred[order]]).ravel() - 1
    flip = np.zeros(n + 1, dtype=np.int8)
    pred_list, step_list, flip_list = pred.tolist(), step.tolist(), flip.tolist()
    for node, s in zip(order.tolist(), step_list, strict=True):
        flip_list[node] = flip_list[pred_list[node]] ^ s
    flip = np.array(flip_list[:n], dtype=bool)
    out = np.where(flip[:, None], faces[:, ::-1], faces)
    return _outward(vertices, out, comp, count)


def _outward(vertices: np.ndarray, faces: np.ndarray, comp: np.ndarray, count: int) -> np.ndarray:
    tri = vertices[faces]
    centre = np.bincount(np.repeat(comp, 3), minlength=count)
    centre = np.stack([np.bincount(np.repeat(comp, 3), weights=tri[:, :, i].reshape(-1),
                                   minlength=count) for i in range(3)], axis=1) / np.maximum(
        centre, 1)[:, None]
    rel = tri - centre[comp][:, None, :]
    signed = np.einsum("ij,ij->i", rel[:, 0], np.cross(rel[:, 1], rel[:, 2]))
    inward = np.bincount(comp, weights=signed, minlength=count) < 0
    return np.where(inward[comp][:, None], faces[:, ::-1], faces)
