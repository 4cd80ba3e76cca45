"""Textures for ``inflate`` (and ``project``): the picture cut to the mesh's grid, with every
texel that is not object filled from its neighbours so no background colour reaches a rim."""

from __future__ import annotations

import numpy as np
from PIL import Image

MAX_TEXTURE_SIDE = 2048


def push_pull_fill(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill unknown texels with a smooth extension of the known ones (push-pull: average the
    known colours down a pyramid, then pull the coarse averages back up into the holes)."""
    import cv2

    colour = rgb.astype(np.float32) * known[..., None]
    weight = known.astype(np.float32)
    if not known.any():
        return rgb.astype(np.float32)
    levels = [(colour, weight)]
    while min(colour.shape[:2]) > 1:
        colour, weight = cv2.pyrDown(colour), cv2.pyrDown(weight)
        if colour.ndim == 2:  # OpenCV drops a channel axis of length 1
            colour = colour[..., None]
        levels.append((colour, weight))
    filled = levels[-1][0] / np.maximum(levels[-1][1], 1e-8)[..., None]
    for colour, weight in reversed(levels[:-1]):
        height, width = weight.shape
        up = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(height, width, -1)
        mean = colour / np.maximum(weight, 1e-8)[..., None]
        trust = np.clip(weight * 2.0, 0.0, 1.0)[..., None]  # half-covered already counts
        filled = trust * mean + (1.0 - trust) * up
    return np.where(known[..., None], rgb.astype(np.float32), filled)


def picture_texture(rgb: np.ndarray, alpha: np.ndarray,
                    extent: tuple[float, float, float, float]) -> tuple[Image.Image, tuple]:
    """The picture inside ``extent`` (x0, y0, x1, y1 in pixels, may reach past the edges) as
    a texture, background texels filled from the object. Returns the image and the extent
    it really covers (whole pixels), which the UVs must use."""
    import cv2

    x0, y0 = int(np.floor(extent[0])), int(np.floor(extent[1]))
    x1, y1 = int(np.ceil(extent[2])), int(np.ceil(extent[3]))
    height, width = alpha.shape
    pad = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
    rgb = cv2.copyMakeBorder(rgb, *pad, cv2.BORDER_REPLICATE)
    alpha = cv2.copyMakeBorder(alpha.astype(np.float32), *pad, cv2.BORDER_CONSTANT, value=0.0)
    sy, sx = y0 + pad[0], x0 + pad[2]
    rgb = rgb[sy:sy + (y1 - y0), sx:sx + (x1 - x0)].astype(np.float32)
    alpha = alpha[sy:sy + (y1 - y0), sx:sx + (x1 - x0)]
    scale = min(1.0, MAX_TEXTURE_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    # edge pixels mix object and background colours; only clearly-object texels are trusted
    known = cv2.erode((alpha >= 0.9).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if not known.any():
        known = alpha >= 0.5
    filled = push_pull_fill(rgb, known)
    image = Image.fromarray(np.clip(filled + 0.5, 0, 255).astype(np.uint8), "RGB")
    return image, (float(x0), float(y0), float(x1), float(y1))
