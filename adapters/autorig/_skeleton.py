"""Auto-rig, step 2: a curve skeleton from the voxel solid by geodesic level sets.

From a root voxel near the centre of mass, geodesic distance inside the solid is cut into
thin bands; each connected piece of a band becomes a node at its centroid, linked to the
piece of the previous band it touches most. Where the bands split (shoulders, hips, the
ant's thorax) the tree branches, so every limb becomes one chain. Unlike thinning, this
cannot leave loops or surface patches, and bumps only make short spurs that are pruned
later. Separate pieces of the solid get their own tree, hung on the nearest node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from adapters._shared.voxels import VoxelGrid, components, depth

_BAND_VOXELS = 2.0  # band width in voxels: wide enough that a band is never cut in two
_MIN_PIECE = 0.02  # pieces smaller than this share of the largest get no bones of their own
_MIN_SPAN = 0.12  # ... unless they are long (a tail or a leg modelled apart): share of the span
_MAX_PIECES = 48  # separate pieces considered at most, the largest first
_OFFSETS = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)
                     if (a, b, c) > (0, 0, 0)])  # half of the 26 neighbours: each edge once


@dataclass
class NodeTree:
    """Skeleton nodes: centroid, parent (-1 for the root), inscribed radius, geodesic order."""

    position: np.ndarray  # (k, 3)
    parent: np.ndarray  # (k,) int
    radius: np.ndarray  # (k,)
    distance: np.ndarray  # (k,) geodesic distance from the root, orders parents first


def node_tree(grid: VoxelGrid) -> NodeTree:
    """The level-set skeleton of every big enough piece of ``grid``, joined into one tree."""
    labels, count = components(grid.solid)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-sizes)
    ijk = np.argwhere(grid.solid)
    index = np.full(grid.solid.shape, -1, dtype=np.int64)
    index[tuple(ijk.T)] = np.arange(len(ijk))
    graph = _voxel_graph(ijk, index, grid.pitch)
    radius = depth(grid.solid, grid.pitch)[tuple(ijk.T)]
    centres = grid.centres(ijk)
    voxel_label = labels[tuple(ijk.T)]

    main = voxel_label == order[0] + 1
    root = _root_voxel(centres, radius, main)
    trees = [_piece_tree(graph, centres, radius, main, root, grid.pitch)]
    attached = main.copy()
    span = _spans(labels, count)
    for piece in order[1:_MAX_PIECES]:
        if sizes[piece] < _MIN_PIECE * sizes[order[0]] and span[piece] < _MIN_SPAN * span.max():
            continue  # an eye, a button, a stray triangle: weighted, but no bones of its own
        mask = voxel_label == piece + 1
        start, anchor = _nearest_pair(grid, ijk, index, mask, attached)
        sub = _piece_tree(graph, centres, radius, mask, start, grid.pitch)
        trees.append(_hang(sub, trees, centres[anchor]))
        attached |= mask
    return _concat(trees)


def _spans(labels: np.ndarray, count: int) -> np.ndarray:
    """Each piece's longest bounding-box side, in voxels."""
    boxes = ndimage.find_objects(labels, max_label=count)
    return np.array([max(s.stop - s.start for s in box) if box else 0 for box in boxes])


def _voxel_graph(ijk: np.ndarray, index: np.ndarray, pitch: float) -> sparse.csr_matrix:
    rows, cols, weights = [], [], []
    shape = np.array(index.shape)
    for off in _OFFSETS:
        nb = ijk + off
        ok = ((nb >= 0) & (nb < shape)).all(axis=1)
        j = np.full(len(ijk), -1)
        j[ok] = index[tuple(nb[ok].T)]
        hit = j >= 0
        rows.append(np.flatnonzero(hit))
        cols.append(j[hit])
        weights.append(np.full(hit.sum(), np.linalg.norm(off) * pitch))
    r, c, w = (np.concatenate(a) for a in (rows, cols, weights))
    n = len(ijk)
    half = sparse.coo_matrix((w, (r, c)), shape=(n, n))
    return (half + half.T).tocsr()  # both directions, so "which neighbour is lower" sees all


def _root_voxel(centres: np.ndarray, radius: np.ndarray, mask: np.ndarray) -> int:
    """Near the centre of mass, but deep inside: a waist beats a point on the skin."""
    com = centres.mean(axis=0)
    score = np.linalg.norm(centres - com, axis=1) - radius
    score[~mask] = np.inf
    return int(np.argmin(score))


def _piece_tree(graph: sparse.csr_matrix, centres: np.ndarray, radius: np.ndarray,
                mask: np.ndarray, root: int, pitch: float) -> NodeTree:
    ids = np.flatnonzero(mask)
    sub = graph[ids][:, ids]
    local_root = int(np.searchsorted(ids, root))
    dist = csgraph.dijkstra(sub, directed=False, indices=local_root)
    reached = np.isfinite(dist)
    ids, sub, dist = ids[reached], sub[reached][:, reached], dist[reached]
    band = np.floor(dist / (_BAND_VOXELS * pitch)).astype(np.int64)
    node, count = _band_pieces(sub, band)
    position = _mean_by(node, centres[ids], count)
    node_radius = np.zeros(count)
    np.maximum.at(node_radius, node, radius[ids])
    node_dist = _mean_by(node, dist[:, None], count)[:, 0]
    parent = _parents(sub, band, node, count)
    parent[node[int(np.argmin(dist))]] = -1
    return NodeTree(position, parent, node_radius, node_dist)


def _band_pieces(graph: sparse.csr_matrix, band: np.ndarray) -> tuple[np.ndarray, int]:
    coo = graph.tocoo()
    same = band[coo.row] == band[coo.col]
    n = graph.shape[0]
    within = sparse.coo_matrix((np.ones(same.sum()), (coo.row[same], coo.col[same])), shape=(n, n))
    count, node = csgraph.connected_components(within, directed=False)
    return node, int(count)


def _parents(graph: sparse.csr_matrix, band: np.ndarray, node: np.ndarray,
             count: int) -> np.ndarray:
    """Each node's parent: the node of the previous band it shares the most voxel edges with."""
    coo = graph.tocoo()
    up = band[coo.col] == band[coo.row] - 1
    child, par = node[coo.row[up]], node[coo.col[up]]
    pairs = sparse.coo_matrix((np.ones(len(child)), (child, par)), shape=(count, count)).tocsr()
    parent = np.asarray(pairs.argmax(axis=1)).ravel()
    has = np.asarray(pairs.max(axis=1).todense()).ravel() > 0
    parent[~has] = -1
    return parent


def _mean_by(group: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    sums = np.zeros((count, values.shape[1]))
    np.add.at(sums, group, values)
    return sums / np.bincount(group, minlength=count)[:, None]


def _nearest_pair(grid: VoxelGrid, ijk: np.ndarray, index: np.ndarray, mask: np.ndarray,
                  attached: np.ndarray) -> tuple[int, int]:
    """The voxel of the piece closest to what is already rigged, and that closest voxel."""
    target = np.zeros(grid.solid.shape, dtype=bool)
    target[tuple(ijk[attached].T)] = True
    dist, nearest = ndimage.distance_transform_edt(~target, return_indices=True)
    ids = np.flatnonzero(mask)
    start = ids[int(np.argmin(dist[tuple(ijk[ids].T)]))]
    anchor = index[tuple(nearest[(slice(None), *ijk[start])])]
    return int(start), int(anchor)


def _hang(sub: NodeTree, trees: list[NodeTree], anchor_point: np.ndarray) -> NodeTree:
    """Offsets ``sub``'s parents past the earlier trees and links its root to the node
    nearest ``anchor_point`` (indices are those of the concatenation)."""
    offset = sum(len(t.parent) for t in trees)
    positions = np.concatenate([t.position for t in trees])
    distances = np.concatenate([t.distance for t in trees])
    nearest = int(np.argmin(np.linalg.norm(positions - anchor_point, axis=1)))
    parent = np.where(sub.parent >= 0, sub.parent + offset, nearest)
    # keep "parents come first" ordering by distance across the joined trees
    gap = np.linalg.norm(sub.position[sub.parent < 0][0] - positions[nearest])
    return NodeTree(sub.position, parent, sub.radius, sub.distance + distances[nearest] + gap)


def _concat(trees: list[NodeTree]) -> NodeTree:
    return NodeTree(
        np.concatenate([t.position for t in trees]),
        np.concatenate([t.parent for t in trees]),
        np.concatenate([t.radius for t in trees]),
        np.concatenate([t.distance for t in trees]),
    )
