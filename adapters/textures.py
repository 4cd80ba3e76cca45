"""Procedural textures adapters attach so their results show something useful at once."""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image


def uv_checker(size: int = 512, tiles: int = 8) -> Image.Image:
    """A checker whose tiles change hue across U and brightness across V, so stretching,
    flipping and seams are all visible."""
    coords = (np.arange(size) * tiles // size).astype(int)
    tu, tv = np.meshgrid(coords, coords[::-1])  # image rows run top-down, V runs bottom-up
    palette = np.array([colorsys.hsv_to_rgb(i / tiles, 0.55, 0.95) for i in range(tiles)])
    rgb = palette[tu] * (0.55 + 0.45 * (tv / max(1, tiles - 1)))[..., None]
    dark = ((tu + tv) % 2 == 1)[..., None]
    rgb = np.where(dark, rgb * 0.35, rgb)
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")
