"""Foreground extraction for ``inflate`` (and ``project``'s object fit).

The alpha channel decides when the picture has a real one. Otherwise the background is
modelled from the picture's border (a colour plus a linear gradient, so studio sweeps and
vignettes still count as plain) and the cut is refined with OpenCV's GrabCut. A border the
model cannot explain is a busy background, refused with one sentence rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.contract.protocol import AdapterError
from engine.errors import ErrorCode

BUSY = ("The picture's background is too busy to cut out the object; "
        "use a plain or transparent background.")
EMPTY = "The picture shows no object: nothing stands out from its background."

_INLIER_DELTA_E = 10.0  # border pixels within this CIELAB distance of the model are background
_MIN_PLAIN_BORDER = 0.6  # below this share of plain border pixels the background is busy
_FOREGROUND_DELTA_E = 18.0  # a pixel this far from the background model is probably object
_SURE_DELTA_E = 45.0
_GRABCUT_SIDE = 512  # GrabCut runs at most at this long side (its cost grows with pixels)


@dataclass
class Foreground:
    rgb: np.ndarray  # (H, W, 3) uint8, the picture's colours
    alpha: np.ndarray  # (H, W) float32 in [0, 1]: how much of each pixel is object
    source: str  # "alpha" or "grabcut"

    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels, x1/y1 exclusive, of the pixels that are mostly object."""
        if "_bbox" not in self.__dict__:  # asked often; a scan of a big picture is not free
            rows = np.flatnonzero((self.alpha >= 0.5).any(axis=1))
            cols = np.flatnonzero((self.alpha >= 0.5).any(axis=0))
            self.__dict__["_bbox"] = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1,
                                      int(rows[-1]) + 1)
        return self.__dict__["_bbox"]


def extract_foreground(image: Image.Image) -> Foreground:
    """The object's coverage; AdapterError (one sentence) for busy or empty pictures."""
    rgb, alpha = split_channels(image)
    if alpha_says_something(alpha):
        mask = _clean(alpha >= 0.5, fill_holes_below=0.001)
        if not mask.any():
            raise AdapterError(EMPTY, ErrorCode.INVALID_INPUT)
        # keep the soft edge where the alpha says so, but drop the specks _clean removed
        soft = np.where(_dilate(mask, 1), alpha, 0.0).astype(np.float32)
        return Foreground(rgb, soft, "alpha")
    return Foreground(rgb, _cut_from_plain_background(rgb), "grabcut")


def alpha_says_something(alpha: np.ndarray | None) -> bool:
    """True when the picture's own alpha cuts the object out: some of it is transparent (an
    alpha channel that is opaque everywhere says nothing)."""
    return alpha is not None and bool((alpha < 0.5).mean() > 0.001)


def split_channels(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        return np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].astype(np.float32) / 255.0
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))), None


# ----------------------------------------------------------------------------- plain background


def _cut_from_plain_background(rgb: np.ndarray) -> np.ndarray:
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, _GRABCUT_SIDE / max(height, width))
    small = rgb if scale == 1.0 else cv2.resize(
        rgb, (max(8, round(width * scale)), max(8, round(height * scale))),
        interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    border = _border_mask(lab.shape[:2])
    distance, plain = _background_distance(lab, border)
    if plain < _MIN_PLAIN_BORDER or _edge_crossings(distance >= _FOREGROUND_DELTA_E) > 6:
        raise AdapterError(BUSY, ErrorCode.INVALID_INPUT)
    mask = _fill_line_art(_clean(_grabcut(small, distance, border), fill_holes_below=0.05))
    if mask.sum() < 16:
        raise AdapterError(EMPTY, ErrorCode.INVALID_INPUT)
    if mask.mean() > 0.97:
        raise AdapterError(BUSY, ErrorCode.INVALID_INPUT)
    soft = mask.astype(np.float32)
    if scale != 1.0:  # bilinear upsampling keeps the edge soft, so the contour stays sub-pixel
        soft = cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(soft, 0.0, 1.0)


def _edge_crossings(likely: np.ndarray) -> int:
    """How many separate stretches of the picture's outer edge look like object: an object
    cut by the frame makes one or two, a pattern (stripes, foliage, a room) makes many."""
    ring = np.concatenate([likely[0], likely[1:, -1], likely[-1, -2::-1], likely[-2:0:-1, 0]])
    return int((ring & ~np.roll(ring, 1)).sum())


def _border_mask(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    strip = max(2, round(0.02 * min(height, width)))
    border = np.zeros(shape, bool)
    border[:strip], border[-strip:], border[:, :strip], border[:, -strip:] = True, True, True, True
    return border


def _background_distance(lab: np.ndarray, border: np.ndarray) -> tuple[np.ndarray, float]:
    """CIELAB distance of every pixel from a colour-plus-gradient fitted to the border, and
    the share of border pixels that fit it (low: the background is not plain)."""
    height, width = lab.shape[:2]
    ys, xs = np.nonzero(border)
    design = np.stack([np.ones(len(xs)), xs / width, ys / height], axis=1)
    values = lab[ys, xs].astype(np.float64)
    keep = np.ones(len(xs), bool)
    for _ in range(3):  # refit without the worst pixels: an object touching the edge is no bg
        coeffs, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        residual = np.linalg.norm(values - design @ coeffs, axis=1)
        keep = residual <= max(np.quantile(residual, 0.7), _INLIER_DELTA_E)
    plain = float((residual < _INLIER_DELTA_E).mean())
    gy, gx = np.mgrid[0:height, 0:width]
    model = coeffs[0] + (gx / width)[..., None] * coeffs[1] + (gy / height)[..., None] * coeffs[2]
    return np.linalg.norm(lab - model, axis=2).astype(np.float32), plain


def _grabcut(rgb: np.ndarray, distance: np.ndarray, border: np.ndarray) -> np.ndarray:
    import cv2

    likely = distance >= _FOREGROUND_DELTA_E
    if not likely.any():
        raise AdapterError(EMPTY, ErrorCode.INVALID_INPUT)
    labels = np.where(likely, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    # sure labels only where the colour leaves no doubt: the plain border, the vivid core
    labels[border & ~likely] = cv2.GC_BGD
    sure = cv2.erode((distance >= _SURE_DELTA_E).astype(np.uint8), np.ones((3, 3), np.uint8))
    labels[sure.astype(bool) & ~border] = cv2.GC_FGD
    if not (labels == cv2.GC_BGD).any():
        return likely  # nothing certain about the background: trust the colour model alone
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(rgb, labels, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return likely  # degenerate colour statistics (e.g. two-colour drawings): keep the model
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


# ----------------------------------------------------------------------------- clean-up


def _clean(mask: np.ndarray, fill_holes_below: float) -> np.ndarray:
    """Drop specks far smaller than the object and fill holes smaller than a share of it."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return np.zeros_like(mask, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.concatenate([[False], areas >= max(4, 0.01 * areas.max())])
    mask = keep[labels]
    holes = ~mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), 4)
    height, width = mask.shape
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = x + stats[:, cv2.CC_STAT_WIDTH], y + stats[:, cv2.CC_STAT_HEIGHT]
    inner = (x > 0) & (y > 0) & (right < width) & (bottom < height)
    fill = inner & (stats[:, cv2.CC_STAT_AREA] < fill_holes_below * mask.sum())
    fill[0] = False  # label 0 is the object itself
    return mask | fill[labels]


def _fill_line_art(mask: np.ndarray) -> np.ndarray:
    """A drawing whose outline encloses far more background-coloured area than it covers is
    line art (a white body drawn in black on white): its inside is object, not a hole."""
    import cv2

    outside = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    outside[1:-1, 1:-1] = mask
    cv2.floodFill(outside, None, (0, 0), 2)
    filled = outside[1:-1, 1:-1] != 2
    return filled if mask.sum() < 0.35 * filled.sum() else mask


def _dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
