"""Per-vertex and per-point geometry on triangle meshes that baking and projection painting
share: normals, tangent frames, barycentric weights, bilinear texture samples."""

from __future__ import annotations

import numpy as np


def tangent_frames(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray,
                   normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex tangents along +U and the bitangent's handedness (±1), from the UV
    gradients of the faces round each vertex (what glTF viewers compute without TANGENT)."""
    p0, p1, p2 = (vertices[faces[:, k]] for k in range(3))
    w0, w1, w2 = (uv[faces[:, k]] for k in range(3))
    e1, e2 = p1 - p0, p2 - p0
    d1, d2 = w1 - w0, w2 - w0
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    inv = np.where(np.abs(det) > 1e-20, 1.0 / np.where(det == 0, 1.0, det), 0.0)[:, None]
    tangent = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * inv
    bitangent = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * inv
    t = np.zeros_like(vertices, dtype=np.float64)
    b = np.zeros_like(t)
    for k in range(3):
        np.add.at(t, faces[:, k], tangent)
        np.add.at(b, faces[:, k], bitangent)
    t = unit(t - normals * (t * normals).sum(axis=1)[:, None])
    sign = np.where((np.cross(normals, t) * b).sum(axis=1) < 0, -1.0, 1.0)
    return t, sign


def sample(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at glTF UVs (v up), repeating outside 0-1 as glTF's
    default sampler does."""
    import cv2

    height, width = image.shape[:2]
    count, row = len(uv), 1024  # remap's maps must stay under 32767 on each side
    if count == 0:
        return np.zeros((0, image.shape[2]))
    maps = np.zeros((-(-count // row) * row, 2), np.float32)
    maps[:count, 0] = np.mod(uv[:, 0], 1.0) * width - 0.5
    maps[:count, 1] = np.mod(1.0 - uv[:, 1], 1.0) * height - 0.5
    maps = maps.reshape(-1, row, 2)
    out = cv2.remap(np.ascontiguousarray(image, dtype=np.float32), maps[..., 0].copy(),
                    maps[..., 1].copy(), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return out.reshape(-1, image.shape[2])[:count].astype(np.float64)


def interpolate(values: np.ndarray, corners: np.ndarray, bary: np.ndarray) -> np.ndarray:
    return (values[corners] * bary[..., None]).sum(axis=1)


def barycentric(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Weights of closest points on their triangles, clipped (slivers misbehave)."""
    import trimesh

    weights = np.clip(trimesh.triangles.points_to_barycentric(tri, p), 0.0, 1.0)
    weights = np.nan_to_num(weights, nan=1.0 / 3.0)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    return unit(np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                          vertices[faces[:, 2]] - vertices[faces[:, 0]]))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    cross = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                     vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, faces[:, k], cross)
    return unit(normals)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
