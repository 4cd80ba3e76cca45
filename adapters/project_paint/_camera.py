"""Cameras for ``project``: a view direction, orthographic or perspective projection, and the
fit that places the picture over the mesh's image (its frame, or its object's bounding box)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (azimuth, elevation) in degrees; azimuth turns about +Y from +Z (front) towards +X (right)
VIEWS = {"front": (0.0, 0.0), "back": (180.0, 0.0), "right": (90.0, 0.0),
         "left": (-90.0, 0.0), "top": (0.0, 90.0), "bottom": (0.0, -90.0)}


@dataclass(frozen=True)
class Camera:
    centre: np.ndarray  # what the camera looks at: the mesh's bounding-box centre
    right: np.ndarray
    up: np.ndarray
    forward: np.ndarray  # the viewing direction, from the camera into the scene
    eye: np.ndarray | None  # the camera's position for perspective; None: orthographic

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image-plane coordinates (right, up) and depth (smaller is nearer) of each point."""
        if self.eye is None:
            q = points - self.centre
            return np.column_stack([q @ self.right, q @ self.up]), q @ self.forward
        q = points - self.eye
        depth = np.maximum(q @ self.forward, 1e-9)
        return np.column_stack([q @ self.right / depth, q @ self.up / depth]), depth

    def towards(self, points: np.ndarray) -> np.ndarray:
        """Unit vectors from each point towards the camera."""
        if self.eye is None:
            return np.broadcast_to(-self.forward, points.shape)
        v = self.eye - points
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def make_camera(vertices: np.ndarray, azimuth: float, elevation: float, fov: float) -> Camera:
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    centre = (lo + hi) / 2
    az, el = np.radians(azimuth), np.radians(elevation)
    towards = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    forward = -towards
    # straight down (or up) the +Y hint is parallel to the view: let the far side be up
    hint = np.array([0.0, 1.0, 0.0]) if abs(elevation) < 89.0 else \
        np.array([-np.sin(az), 0.0, -np.cos(az)]) * np.sign(elevation)
    right = np.cross(forward, hint)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    eye = None
    if fov > 0:
        radius = max(float(np.linalg.norm(vertices - centre, axis=1).max()), 1e-9)
        eye = centre + towards * radius / np.sin(np.radians(fov) / 2) * 1.05
    return Camera(centre, right, up, forward, eye)


@dataclass(frozen=True)
class Fit:
    """Image plane → picture pixels: px = ox + sx·X, py = oy − sy·Y (pixel rows go down)."""

    ox: float
    oy: float
    sx: float
    sy: float

    def to_pixels(self, plane: np.ndarray) -> np.ndarray:
        return np.column_stack([self.ox + self.sx * plane[:, 0], self.oy - self.sy * plane[:, 1]])


def fit_frame(plane: np.ndarray, width: int, height: int) -> Fit:
    """The mesh's image, centred and as large as fits inside the picture (aspect kept)."""
    lo, hi = plane.min(axis=0), plane.max(axis=0)
    size = np.maximum(hi - lo, 1e-12)
    scale = min(width / size[0], height / size[1])
    mid = (lo + hi) / 2
    return Fit(width / 2 - scale * mid[0], height / 2 + scale * mid[1], scale, scale)


def fit_object(plane: np.ndarray, bbox: tuple[int, int, int, int]) -> Fit:
    """The mesh's image stretched onto the picture's object (its bounding box, in pixels)."""
    lo, hi = plane.min(axis=0), plane.max(axis=0)
    size = np.maximum(hi - lo, 1e-12)
    x0, y0, x1, y1 = bbox
    sx, sy = (x1 - x0) / size[0], (y1 - y0) / size[1]
    return Fit(x0 - sx * lo[0], y0 + sy * hi[1], sx, sy)
