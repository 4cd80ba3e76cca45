"""Off-screen mesh thumbnails with a small numpy software rasterizer.

The engine must never import Qt, VTK, pyvista or OpenGL (thumbnails are made in worker
processes and headless runs with no display), so this draws triangles itself: perspective
3/4 view, z-buffer, smooth Lambert + hemispheric ambient, 2x supersampling, RGBA PNG with a
transparent background. Work is chunked over faces and bounded in pixels, so 1.3M faces take
~1.5 s on two cores and a pathological mesh (huge overlapping triangles) cannot hang it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

CLAY = np.array([0.74, 0.71, 0.67])  # warm light gray, sRGB
_FACE_CHUNK = 1 << 20  # faces per pass: bounds per-face temporaries at ~100 MB
_SAMPLE_CHUNK = 1 << 22  # candidate pixel samples per rasterizer batch
_SAMPLE_BUDGET = 40_000_000  # past this many pixel samples, render smaller and upscale
_FILL = 0.86  # fraction of the frame the object's longer side fills
_CREASE_COS = np.cos(np.radians(40.0))  # sharper than this: use the flat face normal


def render_thumbnail(
    mesh: trimesh.Trimesh | trimesh.Scene,
    out_path: Path,
    size: int = 256,
) -> Path:
    """Render `mesh` (or a scene, flattened with its transforms) to a size x size RGBA PNG
    with a transparent background (the UI composites it on whatever panel colour it uses).

    Raises ValueError with one sentence when there is nothing sensible to draw.
    """
    if not 8 <= size <= 2048:
        raise ValueError(f"Thumbnail size must be between 8 and 2048 pixels, not {size}.")
    verts, faces, vcol, fcol = _flatten(mesh)
    used = _used_vertices(verts, faces)  # validate before any heavy work
    ss = 2 if size <= 1024 else 1  # supersampling is the cheapest anti-aliasing we have
    rgba = _render(verts, faces, used, vcol, fcol, size * ss)
    return _write_png_atomically(_downsample(rgba, size), Path(out_path))


def _flatten(
    mesh: trimesh.Trimesh | trimesh.Scene,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """World-space vertices, faces, per-vertex albedo and per-face albedo (linear RGB)."""
    if isinstance(mesh, trimesh.Trimesh):
        parts = [(mesh, np.eye(4))]
    elif isinstance(mesh, trimesh.Scene):
        parts = []
        for node in mesh.graph.nodes_geometry:
            transform, name = mesh.graph[node]
            geom = mesh.geometry.get(name)
            if isinstance(geom, trimesh.Trimesh):  # point clouds and paths have no faces
                parts.append((geom, transform))
    else:
        raise TypeError(f"Expected a trimesh.Trimesh or trimesh.Scene, got {type(mesh).__name__}.")
    out, offset = [], 0
    for geom, transform in parts:
        v = np.asarray(geom.vertices, dtype=np.float64).reshape(-1, 3)
        f = np.asarray(geom.faces, dtype=np.int64).reshape(-1, 3)
        if len(f) and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError("The mesh has face indices that point past its vertex list.")
        if not np.allclose(transform, np.eye(4)):
            v = v @ transform[:3, :3].T + transform[:3, 3]
            if np.linalg.det(transform[:3, :3]) < 0:  # mirrored instance: keep outward normals
                f = f[:, ::-1]
        out.append((v, f + offset, *_albedo(geom, len(v), len(f))))
        offset += len(v)
    if sum(len(part[1]) for part in out) == 0:
        raise ValueError("The mesh has no faces to draw.")
    verts, faces, vcol, fcol = (np.concatenate(column) for column in zip(*out, strict=True))
    return verts, faces, vcol, fcol


def _albedo(geom: trimesh.Trimesh, n_verts: int, n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Colours the artist set (vertex, face, texture or material colour), else clay.

    Returned as float32 linear RGB: vertex albedo (V, 3) times face albedo (F, 3).
    """
    vcol = np.broadcast_to(CLAY, (n_verts, 3))
    fcol = np.ones((n_faces, 3))
    visual = geom.visual
    try:
        if isinstance(visual, trimesh.visual.TextureVisuals):
            material = visual.material
            texture = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
            if visual.uv is not None and texture is not None:
                # One texture sample per vertex: cheap, and plenty for a thumbnail.
                visual = visual.to_color()
            else:
                main = getattr(visual.material, "main_color", None)
                if main is not None:
                    vcol = np.broadcast_to(np.asarray(main[:3]) / 255.0, (n_verts, 3))
        if isinstance(visual, trimesh.visual.ColorVisuals):
            if visual.kind == "vertex":
                vcol = np.asarray(visual.vertex_colors)[:, :3] / 255.0
            elif visual.kind == "face":
                vcol = np.ones((n_verts, 3))
                fcol = np.asarray(visual.face_colors)[:, :3] / 255.0
    except Exception:  # a broken visual must not cost the artist the thumbnail
        vcol, fcol = np.broadcast_to(CLAY, (n_verts, 3)), np.ones((n_faces, 3))
    # sRGB -> linear so lighting adds up physically; the encode happens once at the end.
    return (np.asarray(vcol, np.float32) ** 2.2), (np.asarray(fcol, np.float32) ** 2.2)


def _used_vertices(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Mask of vertices some face uses; raises on geometry that cannot be framed."""
    used = np.zeros(len(verts), dtype=bool)
    used[faces.ravel()] = True
    if not np.isfinite(verts[used]).all():
        raise ValueError("The mesh has NaN or infinite vertex coordinates.")
    if np.ptp(verts[used], axis=0).max() <= 1e-12 * max(1.0, np.abs(verts[used]).max()):
        raise ValueError("All of the mesh's vertices are at the same point.")
    return used


def _camera(verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eye position and an orthonormal (right, up, forward) basis for a 3/4 view, Y up."""
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    center, radius = (lo + hi) / 2, np.linalg.norm(hi - lo) / 2
    az, el = np.radians(40.0), np.radians(24.0)  # front-right, slightly above: reads as 3D
    direction = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    eye = center + direction * radius * 2.8  # far enough that every point is in front
    fwd = -direction
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    return eye, np.stack([right, up, fwd])


def _render(
    verts: np.ndarray,
    faces: np.ndarray,
    used: np.ndarray,
    vcol: np.ndarray,
    fcol: np.ndarray,
    res: int,
) -> np.ndarray:
    """Rasterize into a (r, r, 4) float RGBA array, r <= res."""
    eye, basis = _camera(verts[used])
    cam = (verts - eye) @ basis.T  # x right, y up, z depth (> 0 in front)
    depth = np.where(used, cam[:, 2], 1.0)
    proj = cam[:, :2] / depth[:, None]
    lo, hi = proj[used].min(axis=0), proj[used].max(axis=0)
    scale = _FILL / max(hi - lo)
    unit = (proj - (lo + hi) / 2) * [scale, -scale] + 0.5  # frame units, y pointing down

    # Pass 1: smooth vertex normals, and the work estimate (covered samples + spans).
    vnorm = np.zeros((len(verts), 3))
    area = height = 0.0
    for start in range(0, len(faces), _FACE_CHUNK):
        tri = faces[start : start + _FACE_CHUNK]
        fn = _face_normals(verts, tri, normalize=False)  # area-weighted on purpose
        for k in range(3):
            vnorm[:, k] += sum(np.bincount(tri[:, j], fn[:, k], len(verts)) for j in range(3))
        x, y = unit[tri, 0] - unit[tri[:, 2:], 0], unit[tri, 1] - unit[tri[:, 2:], 1]
        area += 0.5 * np.abs(x[:, 0] * y[:, 1] - x[:, 1] * y[:, 0]).sum()
        height += (_max3(y) - _min3(y)).sum()
    vnorm /= np.maximum(np.linalg.norm(vnorm, axis=1, keepdims=True), 1e-30)
    # Heavily overlapping huge triangles (a bad soup) would take minutes at full size:
    # draw smaller instead, so the time per thumbnail stays bounded.
    while res > 16 and area * res**2 + height * res > _SAMPLE_BUDGET:
        res = max(16, int(res * 0.8))

    # Pass 2: z-buffer. zbuf holds 1/z (bigger is nearer, 0 is empty), fbuf the face id.
    scr = unit * res
    inv_z = 1.0 / depth
    zbuf = np.zeros(res * res)
    fbuf = np.full(res * res, -1, dtype=np.int64)
    for start in range(0, len(faces), _FACE_CHUNK):
        _rasterize(scr, inv_z, faces[start : start + _FACE_CHUNK], start, res, zbuf, fbuf)
    covered = np.flatnonzero(fbuf >= 0)
    if covered.size == 0:
        raise ValueError("The mesh has no visible surface area (every face is degenerate).")
    out = np.zeros((res * res, 4))
    out[covered, :3] = _shade(
        verts, faces, vnorm, vcol, fcol, scr, inv_z, basis, covered, fbuf[covered], res
    )
    out[covered, 3] = 1.0
    return out.reshape(res, res, 4)


def _edge_coeffs(scr: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric planes: (b0, b1) = a * (x - x2) + c * (y - y2), each (n, 2).

    Relative to vertex 2 so tiny triangles far from the origin keep their precision.
    """
    x, y = scr[tri, 0], scr[tri, 1]
    d0x, d0y, d1x, d1y = x[:, 0] - x[:, 2], y[:, 0] - y[:, 2], x[:, 1] - x[:, 2], y[:, 1] - y[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / (d0x * d1y - d1x * d0y)  # inf for zero-area faces; callers drop them
    return np.stack([d1y * inv, -d0y * inv], axis=1), np.stack([-d1x * inv, d0x * inv], axis=1)


def _rasterize(
    scr: np.ndarray,
    inv_z: np.ndarray,
    tri: np.ndarray,
    start: int,
    res: int,
    zbuf: np.ndarray,
    fbuf: np.ndarray,
) -> None:
    """Z-buffer every pixel centre inside each triangle of `tri` into zbuf/fbuf (in place).

    Scanline spans, not bounding boxes: a long diagonal sliver costs its covered pixels,
    not its bounding box, which is what keeps thin-triangle meshes fast.
    """
    x, y = scr[tri, 0], scr[tri, 1]
    xmin, xmax = _min3(x), _max3(x)
    row0 = np.clip(np.ceil(_min3(y) - 0.5), 0, res)
    nrows = np.maximum(np.clip(np.floor(_max3(y) - 0.5), -1, res - 1) - row0 + 1, 0)
    a, c = _edge_coeffs(scr, tri)
    ok = np.flatnonzero((nrows > 0) & np.isfinite(a).all(axis=1) & np.isfinite(c).all(axis=1))
    est = nrows[ok] * (xmax - xmin + 1)[ok]  # bounds the memory of one batch
    batch = np.cumsum(est) // _SAMPLE_CHUNK
    for sel in np.split(ok, np.flatnonzero(np.diff(batch)) + 1):
        if sel.size == 0:
            continue
        # One entry per (triangle, pixel row) it spans.
        n = nrows[sel].astype(np.int64)
        t = np.repeat(sel, n)
        py = row0[t] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        dy = py + 0.5 - y[t, 2]
        # b_i(u) = A_i * u + K_i along the row, u = x - x2; all three >= -eps inside.
        A = np.stack([a[t, 0], a[t, 1], -a[t, 0] - a[t, 1]])
        K0, K1 = c[t, 0] * dy, c[t, 1] * dy
        K = np.stack([K0, K1, 1.0 - K0 - K1])
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (-1e-7 - K) / A
        u_lo = np.where(A > 0, bound, -np.inf).max(axis=0)
        u_hi = np.where(A < 0, bound, np.inf).min(axis=0)
        empty = ((A == 0) & (K < -1e-7)).any(axis=0)
        # Clamp to the triangle's own x extent: guards the huge slopes of needle triangles.
        x2 = x[t, 2]
        lo = np.maximum(u_lo + x2, xmin[t])
        hi = np.minimum(u_hi + x2, xmax[t])
        px0 = np.clip(np.ceil(lo - 0.5), 0, res)
        w = np.where(empty, 0, np.maximum(np.clip(np.floor(hi - 0.5), -1, res - 1) - px0 + 1, 0))
        w = w.astype(np.int64)
        # One entry per covered pixel centre.
        r = np.repeat(np.arange(len(t)), w)
        px = px0[r] + np.arange(w.sum()) - np.repeat(np.cumsum(w) - w, w)
        u = px + 0.5 - x2[r]
        b0, b1 = A[0, r] * u + K0[r], A[1, r] * u + K1[r]
        iz = inv_z[tri[t[r]]]
        z = b0 * iz[:, 0] + b1 * iz[:, 1] + (1.0 - b0 - b1) * iz[:, 2]  # 1/z is affine on screen
        pix = (py[r] * res + px).astype(np.int64)
        np.maximum.at(zbuf, pix, z)
        win = z >= zbuf[pix]
        fbuf[pix[win]] = start + t[r][win]


def _min3(v: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(v[:, 0], v[:, 1]), v[:, 2])  # ~5x faster than min(axis=1)


def _max3(v: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(v[:, 0], v[:, 1]), v[:, 2])


def _face_normals(verts: np.ndarray, tri: np.ndarray, normalize: bool = True) -> np.ndarray:
    p0, p1, p2 = verts[tri[:, 0]], verts[tri[:, 1]], verts[tri[:, 2]]
    n = np.cross(p1 - p0, p2 - p0)
    if normalize:
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    return n


def _shade(
    verts: np.ndarray,
    faces: np.ndarray,
    vnorm: np.ndarray,
    vcol: np.ndarray,
    fcol: np.ndarray,
    scr: np.ndarray,
    inv_z: np.ndarray,
    basis: np.ndarray,
    pix: np.ndarray,
    fid: np.ndarray,
    res: int,
) -> np.ndarray:
    """Linear RGB for covered pixels: key + fill + rim Lambert, sky/ground ambient, a little sheen."""
    tri = faces[fid]
    a, c = _edge_coeffs(scr, tri)
    dx, dy = pix % res + 0.5 - scr[tri[:, 2], 0], pix // res + 0.5 - scr[tri[:, 2], 1]
    b0, b1 = a[:, 0] * dx + c[:, 0] * dy, a[:, 1] * dx + c[:, 1] * dy
    b = np.clip(np.stack([b0, b1, 1.0 - b0 - b1], axis=1), 0.0, 1.0)
    b *= inv_z[tri]  # perspective-correct attribute weights
    b /= b.sum(axis=1, keepdims=True)

    right, up, fwd = basis
    fn = _face_normals(verts, tri)
    # Per corner: the smooth vertex normal unless it leans past the crease angle from this
    # face (a box corner), then the flat face normal. Smooth spheres, crisp boxes.
    corner = vnorm[tri]
    sharp = np.einsum("pkd,pd->pk", corner, fn) < _CREASE_COS
    corner[sharp] = np.repeat(fn[:, None], 3, axis=1)[sharp]
    n = np.einsum("pk,pkd->pd", b, corner)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    # Two-sided: open meshes and flipped windings show their inside lit, not black.
    facing_away = (fn @ fwd) > 0
    n[facing_away] *= -1

    view = -fwd
    key = _unit(-0.5 * right + 0.8 * up + 0.6 * view)
    fill = _unit(0.8 * right + 0.1 * up + 0.6 * view)
    rim = _unit(0.2 * right + 0.5 * up - 1.0 * view)
    lambert = sum(w * np.clip(n @ d, 0, None) for w, d in ((1.0, key), (0.3, fill), (0.35, rim)))
    ambient = 0.16 + 0.10 * (n @ np.array([0.0, 1.0, 0.0]))  # brighter sky than ground
    albedo = np.einsum("pk,pkd->pd", b, vcol[tri]) * fcol[fid]
    sheen = 0.10 * np.clip(n @ _unit(key + view), 0, None) ** 32
    rgb = albedo * (ambient + lambert)[:, None] + sheen[:, None]
    return np.clip(rgb, 0.0, 1.0) ** (1 / 2.2)  # linear -> sRGB-ish for the PNG


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _downsample(rgba: np.ndarray, size: int) -> Image.Image:
    """Average the supersamples (or upscale a budget-reduced render) in premultiplied alpha,
    so silhouette edges fade out instead of picking up dark fringes."""
    img = Image.fromarray(np.round(rgba * 255).astype(np.uint8), "RGBA").convert("RGBa")
    box = rgba.shape[0] % size == 0  # exact 2x2 box average in the usual case
    resample = Image.Resampling.BOX if box else Image.Resampling.LANCZOS
    return img.resize((size, size), resample).convert("RGBA")


def _write_png_atomically(img: Image.Image, out_path: Path) -> Path:
    """Temp file in the same directory, then os.replace: readers never see half a PNG."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            img.save(fh, format="PNG", optimize=False)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path
