"""Auto-rig, step 3: from the level-set node tree to a joint tree within ``max_bones``.

The node tree is read as chains between key nodes (the root, branch points, tips). Spurs
(chains that barely stick out of the part they grow from: ears, heels, bumps) are pruned,
then the shortest limbs while there are more key nodes than ``max_bones``. What budget is
left becomes joints along the chains: first one where each limb leaves the body, so every
limb turns on its own joint, then splits of the longest bones at their sharpest bend.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from adapters.autorig._skeleton import NodeTree

_MIN_BONE = 0.06  # shortest bone worth a joint, as a share of the model's size
_MIN_LIMB = 0.03  # shortest limb kept (stubby arms of a plush toy are about this)
_SAME = 0.85  # bones within this ratio of the longest are split together
_BEND = 0.08  # a chain bending further than this (share of its length) is split at the bend


@dataclass
class Joints:
    """The rest pose: world positions and parents (-1 for the root; parents come first)."""

    position: np.ndarray  # (j, 3)
    parent: np.ndarray  # (j,) int

    def bones(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every parent-to-child segment as (head, tail, owning joint): a vertex near a
        segment follows the joint at its head, as in Blender and glTF skinning."""
        child = np.flatnonzero(self.parent >= 0)
        owner = self.parent[child]
        return self.position[owner], self.position[child], owner


def build_joints(tree: NodeTree, max_bones: int, points: np.ndarray) -> Joints:
    """A joint tree with at most ``max_bones`` joints for the model whose surface holds
    ``points``."""
    parent = tree.parent.copy()
    size = float(np.ptp(points, axis=0).max())
    min_len = _MIN_BONE * size
    _simplify(parent, tree, min_len)
    _fit_budget(parent, tree, max_bones, min_len)
    chains = _chains(parent)
    cuts = _place_joints(chains, tree, max_bones, min_len)
    joints = _joint_tree(chains, cuts, tree, parent)
    heads, tails, _ = joints.bones()
    if len(heads) and np.linalg.norm(tails - heads, axis=1).max() >= 0.5 * min_len:
        return joints
    return _blob_bone(joints.position[0], points)


def _blob_bone(root: np.ndarray, points: np.ndarray) -> Joints:
    """A ball or a box has no limbs; one bone from the root along its longest axis still
    lets the artist move it."""
    centred = points - points.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    reach = float(((points - root) @ axis).max())
    tip = root + 0.8 * max(reach, 1e-9) * axis
    return Joints(np.stack([root, tip]), np.array([-1, 0]))


def _children_lists(parent: np.ndarray) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in parent]
    for node, par in enumerate(parent):
        if par >= 0:
            kids[par].append(node)
    return kids


def _chains(parent: np.ndarray) -> list[list[int]]:
    """Node paths from each key node down to the next (alive nodes only: parent != -2)."""
    kids = _children_lists(parent)
    root = int(np.flatnonzero(parent == -1)[0])
    chains, todo = [], [root]
    while todo:
        key = todo.pop()
        for child in kids[key]:
            path = [key, child]
            while len(kids[path[-1]]) == 1:
                path.append(kids[path[-1]][0])
            chains.append(path)
            todo.append(path[-1])
    return chains


def _length(path: list[int], tree: NodeTree) -> float:
    pts = tree.position[path]
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def _tips(parent: np.ndarray, tree: NodeTree) -> list[tuple[float, list[int]]]:
    """Leaf chains that hang off a branch point, with how far each reaches past it: the
    rise in geodesic distance, which for a bump is its height and for a limb its length
    (a straight line from the branch point's centroid would count the body's radius too)."""
    chains = _chains(parent)
    kids = np.bincount(parent[parent >= 0], minlength=len(parent))
    out = []
    for path in chains:
        start, end = path[0], path[-1]
        if kids[end] == 0 and kids[start] >= 2:
            out.append((float(tree.distance[end] - tree.distance[start]), path))
    return out


def _cut(parent: np.ndarray, path: list[int]) -> None:
    parent[path[1:]] = -2  # -2: removed


def _simplify(parent: np.ndarray, tree: NodeTree, min_len: float) -> None:
    """Prune spurs and fold branch points that sit almost on top of each other (the legs of
    an insect leave the thorax a few voxels apart) until nothing changes."""
    while _prune_one_spur(parent, tree, min_len) or _fold_one(parent, tree, min_len):
        pass


def _prune_one_spur(parent: np.ndarray, tree: NodeTree, min_len: float) -> bool:
    """Cut the shortest chain that reaches less than half the radius of the part it grows
    from (a bulge, not a limb), or that is shorter than the shortest limb."""
    tips = _tips(parent, tree)
    shortest = min_len * _MIN_LIMB / _MIN_BONE
    spurs = [(reach, path) for reach, path in tips
             if reach < max(0.5 * tree.radius[path[0]], shortest)
             or _length(path, tree) < shortest]
    if not spurs or len(tips) < 2:
        return False
    _cut(parent, min(spurs, key=lambda s: s[0])[1])
    return True


def _fold_one(parent: np.ndarray, tree: NodeTree, min_len: float) -> bool:
    kids = _children_lists(parent)
    for path in _chains(parent):
        end = path[-1]
        if kids[end] and _length(path, tree) < min_len:
            parent[kids[end]] = path[0]  # the stub left behind is pruned as a spur next
            return True
    return False


def _fit_budget(parent: np.ndarray, tree: NodeTree, max_bones: int, min_len: float) -> None:
    """Drop the shortest limbs until the root, branch points, tips and a joint where each
    limb leaves the body fit in ``max_bones``."""
    while True:
        chains = _chains(parent)
        tips = _tips(parent, tree)
        roots = sum(_limb_root(path, tree, min_len) is not None for _, path in tips)
        if 1 + len(chains) + roots <= max_bones or len(tips) < 2:
            return
        _cut(parent, min(tips, key=lambda s: s[0])[1])


def _place_joints(chains: list[list[int]], tree: NodeTree, max_bones: int,
                  min_len: float) -> list[list[int]]:
    """Per chain, the positions (indices into the path) of its joints, ends included."""
    cuts = [[0, len(path) - 1] for path in chains]
    budget = max_bones - 1 - len(chains)
    kids = np.bincount([c[0] for c in chains], minlength=len(tree.parent))
    # limb roots first (``_fit_budget`` left room for them): a limb whose only joint is the
    # branch point it hangs from cannot turn on its own
    for path, cut in zip(chains, cuts, strict=True):
        if budget > 0 and kids[path[-1]] == 0 and kids[path[0]] >= 2:
            at = _limb_root(path, tree, min_len)
            if at is not None:
                cut.insert(1, at)
                budget -= 1
    while budget > 0:
        group = _split_group(chains, cuts, tree, min_len)
        if not group or len(group) > budget:
            break
        for ci, at in group:
            cuts[ci] = sorted([*cuts[ci], at])
        budget -= len(group)
    return cuts


def _limb_root(path: list[int], tree: NodeTree, min_len: float) -> int | None:
    """The first node of ``path`` outside the branch point's inscribed sphere."""
    start = tree.position[path[0]]
    reach = max(tree.radius[path[0]], 0.5 * min_len)
    for i in range(1, len(path) - 1):
        if np.linalg.norm(tree.position[path[i]] - start) >= reach:
            rest = _length(path[i:], tree)
            return i if rest >= 0.5 * min_len else None
    return None


def _split_group(chains: list[list[int]], cuts: list[list[int]], tree: NodeTree,
                 min_len: float) -> list[tuple[int, int]]:
    """The longest bones' splits, taken together with every bone nearly as long (a knee in
    each of six legs or in none, never three: rigs stay symmetric)."""
    found = []
    for ci, (path, cut) in enumerate(zip(chains, cuts, strict=True)):
        for a, b in pairwise(cut):
            seg = path[a:b + 1]
            length = _length(seg, tree)
            if length > 2.0 * min_len and b - a >= 2:
                found.append((length, ci, a + _split_point(seg, tree)))
    if not found:
        return []
    longest = max(f[0] for f in found)
    return [(ci, at) for length, ci, at in found if length >= _SAME * longest]


def _split_point(seg: list[int], tree: NodeTree) -> int:
    """Where to split a stretch of chain: its sharpest bend (elbow, knee), else half way."""
    pts = tree.position[seg]
    axis = pts[-1] - pts[0]
    span = np.linalg.norm(axis)
    rel = pts - pts[0]
    if span > 0:
        off = np.linalg.norm(np.cross(rel, axis / span), axis=1)
        if off[1:-1].max() > _BEND * span:
            return int(np.argmax(off[1:-1])) + 1
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    mid = int(np.argmin(np.abs(arc - arc[-1] / 2)))
    return min(max(mid, 1), len(seg) - 2)


def _joint_tree(chains: list[list[int]], cuts: list[list[int]], tree: NodeTree,
                parent: np.ndarray) -> Joints:
    root = int(np.flatnonzero(parent == -1)[0])
    joint_of = {root: 0}
    position, parents = [tree.position[root]], [-1]
    for path, cut in zip(chains, cuts, strict=True):
        prev = joint_of[path[0]]
        for at in cut[1:]:
            position.append(tree.position[path[at]])
            parents.append(prev)
            prev = len(position) - 1
        joint_of[path[-1]] = prev
    return Joints(np.array(position), np.array(parents, dtype=np.int64))
