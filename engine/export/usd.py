"""USDZ through usd-core: one UsdGeom.Mesh per part (points, triangles, normals, primvars:st),
a UsdPreviewSurface material per part with its base-colour texture, packed by
``UsdUtils.CreateNewUsdzPackage`` and checked by usd-core's ``ComplianceChecker``.

usd-core is pinned below 26: 26.x removed the Python ComplianceChecker in favour of the
UsdValidation framework, and the checker is what we promise to run.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh

from engine.errors import ErrorCode, MeshsmithError
from engine.export.check import Measure, check_bounds

if TYPE_CHECKING:
    from engine.export.exporter import ExportOptions

# The usd-core wheel lacks the preview shaders' Sdr definitions (OpenUSD #3983), so the
# checker would call every UsdPreviewSurface invalid. Sdr's filesystem discovery reads ours
# (resources/usd_shaders/README.md); Tf reads these settings once, so set them before pxr.
SHADER_DEFS = Path(__file__).resolve().parents[2] / "resources" / "usd_shaders"
_search = os.environ.get("PXR_SDR_FS_PLUGIN_SEARCH_PATHS", "")
if str(SHADER_DEFS) not in _search.split(os.pathsep):
    os.environ["PXR_SDR_FS_PLUGIN_SEARCH_PATHS"] = os.pathsep.join(
        p for p in (_search, str(SHADER_DEFS)) if p)
os.environ.setdefault("PXR_SDR_FS_PLUGIN_ALLOWED_EXTS", "usda")
os.environ.setdefault("TF_ENV_SETTING_ALERTS_ENABLED", "0")  # no banner about the above

from pxr import Gf, Sdf, Sdr, Tf, Usd, UsdGeom, UsdShade, UsdUtils, Vt  # noqa: E402

_primed = threading.Lock()
_discovered = False


def _prime_shader_registry() -> None:
    """Run Sdr's one-time discovery with stderr muted: usd-core prints two 'Coding Error'
    lines about the missing built-in definitions, which would alarm an artist."""
    global _discovered
    with _primed:
        if _discovered:
            return
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
                try:
                    Sdr.Registry().GetShaderNodeByIdentifier("UsdPreviewSurface")
                except Tf.ErrorException:
                    pass  # the same two complaints, raised; discovery itself completed
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        _discovered = True


def write_usdz(scene: trimesh.Scene, dest: Path, options: ExportOptions
               ) -> tuple[list[str], list[str]]:
    """Write ``dest``; returns (file names written, notes for the artist)."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="usd-", dir=dest.parent) as tmp:
        layer = Path(tmp) / f"{_identifier(dest.stem)}.usdc"
        stage = Usd.Stage.CreateNew(str(layer))
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z if options.up == "z" else UsdGeom.Tokens.y)
        UsdGeom.SetStageMetersPerUnit(stage, UsdGeom.LinearUnits.meters)  # glTF is in metres
        root = UsdGeom.Xform.Define(stage, "/Root")
        stage.SetDefaultPrim(root.GetPrim())
        export = options.matrix()
        if not options.apply_transforms and not np.allclose(export, np.eye(4)):
            root.AddTransformOp().Set(_gf_matrix(export))
        names: set[str] = set()
        for node in sorted(scene.graph.nodes_geometry):
            transform, geom = scene.graph[node]
            mesh = scene.geometry.get(geom)
            if not isinstance(mesh, trimesh.Trimesh) or not len(mesh.faces):
                continue
            name = _unique(_identifier(node), names)
            if options.apply_transforms:
                mesh = mesh.copy()
                mesh.apply_transform(export @ transform)
                _define_mesh(stage, f"/Root/{name}", mesh, None, Path(tmp))
            else:
                _define_mesh(stage, f"/Root/{name}", mesh, transform, Path(tmp))
        if not names:
            raise MeshsmithError(ErrorCode.INVALID_INPUT, "The result holds no triangles to export.")
        stage.GetRootLayer().Save()
        if not UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(layer)), str(dest)):
            raise MeshsmithError(ErrorCode.OUTPUT_INVALID,
                                 f"usd-core could not pack {dest.name}, so it was not saved.")
    return [dest.name], notes


def check_usdz(path: Path, expected: Measure, *, up: str) -> list[str]:
    """usd-core's compliance checker must report no errors, and the stage must read back
    with the parts, counts, up axis and bounds that were meant."""
    _prime_shader_registry()
    if not Sdr.Registry().GetShaderNodeByIdentifier("UsdPreviewSurface"):
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID, "usd-core cannot find the preview "
                             f"shader definitions in {SHADER_DEFS}, so the USDZ was not checked.")
    checker = UsdUtils.ComplianceChecker(arkit=False, skipARKitRootLayerCheck=False,
                                         rootPackageOnly=False, skipVariants=False)
    checker.CheckCompliance(str(path))
    problems = [*checker.GetErrors(), *checker.GetFailedChecks()]
    if problems:
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID, f"The USDZ export failed usd-core's "
                             f"compliance check ({_clip(problems[0])}), so it was not saved.")
    stage = Usd.Stage.Open(str(path))
    meshes = [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    got = Measure(len(meshes), sum(len(m.GetPointsAttr().Get() or []) for m in meshes),
                  sum(len(m.GetFaceVertexCountsAttr().Get() or []) for m in meshes),
                  np.zeros((2, 3)))
    for what, have, want in (("parts", got.parts, expected.parts),
                             ("vertices", got.vertices, expected.vertices),
                             ("faces", got.faces, expected.faces)):
        if have != want:
            raise MeshsmithError(ErrorCode.OUTPUT_INVALID, f"The USDZ export read back with "
                                 f"{have:,} {what} instead of {want:,}, so it was not saved.")
    if UsdGeom.GetStageUpAxis(stage).lower() != up:
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID,
                             "The USDZ export has the wrong up axis, so it was not saved.")
    cache = UsdGeom.BBoxCache(Usd.TimeCode.Default(), [UsdGeom.Tokens.default_])
    box = cache.ComputeWorldBound(stage.GetDefaultPrim()).ComputeAlignedRange()
    bounds = np.array([list(box.GetMin()), list(box.GetMax())])
    return ["usd-core compliance checker: no errors",
            f"read back with usd-core: {got.describe()}", check_bounds("USDZ", bounds,
                                                                       expected.bounds)]


def _define_mesh(stage: Usd.Stage, path: str, mesh: trimesh.Trimesh,
                 transform: np.ndarray | None, folder: Path) -> None:
    usd = UsdGeom.Mesh.Define(stage, path)
    if transform is not None and not np.allclose(transform, np.eye(4)):
        usd.AddTransformOp().Set(_gf_matrix(transform))
    points = np.asarray(mesh.vertices, dtype=np.float32)
    faces = np.asarray(mesh.faces, dtype=np.int32)
    usd.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(points))
    usd.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
    usd.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(faces.reshape(-1)))
    usd.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(
        np.asarray(mesh.vertex_normals, dtype=np.float32)))
    usd.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    usd.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)  # game meshes are final triangles
    low, high = (Gf.Vec3f(*(float(v) for v in corner)) for corner in (points.min(0), points.max(0)))
    usd.CreateExtentAttr(Vt.Vec3fArray([low, high]))
    primvars = UsdGeom.PrimvarsAPI(usd)
    visual = mesh.visual
    uv = getattr(visual, "uv", None)
    if uv is not None and len(uv) == len(points):
        st = primvars.CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray,
                                    UsdGeom.Tokens.vertex)
        st.Set(Vt.Vec2fArray.FromNumpy(np.asarray(uv, dtype=np.float32)))
    colors = _vertex_colors(visual, len(points))
    if colors is not None:
        display = primvars.CreatePrimvar("displayColor", Sdf.ValueTypeNames.Color3fArray,
                                         UsdGeom.Tokens.vertex)
        display.Set(Vt.Vec3fArray.FromNumpy(colors))
    material = _material(stage, path, visual, folder, has_uv=uv is not None,
                         has_colors=colors is not None)
    UsdShade.MaterialBindingAPI.Apply(usd.GetPrim()).Bind(material)


def _material(stage: Usd.Stage, mesh_path: str, visual: Any, folder: Path, *, has_uv: bool,
              has_colors: bool) -> UsdShade.Material:
    """A UsdPreviewSurface: base colour from the texture, the vertex colours or a constant."""
    name = mesh_path.rsplit("/", 1)[-1]
    material = UsdShade.Material.Define(stage, f"/Root/Materials/{name}")
    surface = UsdShade.Shader.Define(stage, f"/Root/Materials/{name}/PreviewSurface")
    surface.CreateIdAttr("UsdPreviewSurface")
    material.CreateSurfaceOutput().ConnectToSource(surface.ConnectableAPI(), "surface")
    pbr = getattr(visual, "material", None)
    metallic = getattr(pbr, "metallicFactor", None)
    roughness = getattr(pbr, "roughnessFactor", None)
    surface.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(
        float(0.0 if metallic is None else metallic))
    surface.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(
        float(0.5 if roughness is None else roughness))
    diffuse = surface.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f)
    image = _base_image(pbr)
    if image is not None and has_uv:
        texture_rel = f"./textures/{name}_base_color.png"
        (folder / "textures").mkdir(exist_ok=True)
        image.convert("RGBA" if "A" in image.getbands() else "RGB").save(folder / texture_rel)
        reader = UsdShade.Shader.Define(stage, f"/Root/Materials/{name}/stReader")
        reader.CreateIdAttr("UsdPrimvarReader_float2")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
        texture = UsdShade.Shader.Define(stage, f"/Root/Materials/{name}/BaseColor")
        texture.CreateIdAttr("UsdUVTexture")
        texture.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(Sdf.AssetPath(texture_rel))
        texture.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
        texture.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set("repeat")
        texture.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set("repeat")
        texture.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(
            reader.ConnectableAPI(), "result")
        diffuse.ConnectToSource(texture.ConnectableAPI(), "rgb")
    elif has_colors:
        reader = UsdShade.Shader.Define(stage, f"/Root/Materials/{name}/colorReader")
        reader.CreateIdAttr("UsdPrimvarReader_float3")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
        diffuse.ConnectToSource(reader.ConnectableAPI(), "result")
    else:
        diffuse.Set(_base_factor(pbr, visual))
    return material


def _base_image(pbr: Any) -> Any:
    if pbr is None:
        return None
    return getattr(pbr, "baseColorTexture", None) or getattr(pbr, "image", None)


def _base_factor(pbr: Any, visual: Any) -> Gf.Vec3f:
    factor = getattr(pbr, "baseColorFactor", None)
    if factor is None:
        factor = getattr(pbr, "main_color", None)
    if factor is None and getattr(visual, "kind", None) == "face":
        factor = np.asarray(visual.face_colors).mean(axis=0)
    if factor is None:
        return Gf.Vec3f(0.8, 0.8, 0.8)
    rgb = np.asarray(factor, dtype=np.float64)[:3]
    rgb = rgb / 255.0 if rgb.max() > 1.0 else rgb  # trimesh keeps colours as uint8
    return Gf.Vec3f(*(float(c) for c in rgb))


def _vertex_colors(visual: Any, count: int) -> np.ndarray | None:
    if getattr(visual, "kind", None) != "vertex":
        return None
    colors = np.asarray(visual.vertex_colors)
    if len(colors) != count:
        return None
    return (colors[:, :3].astype(np.float32) / 255.0).astype(np.float32)


def _gf_matrix(matrix: np.ndarray) -> Gf.Matrix4d:
    # USD multiplies row vectors (translation in the last row): the transpose of ours
    return Gf.Matrix4d(*(float(x) for x in np.asarray(matrix, dtype=np.float64).T.reshape(-1)))


def _identifier(name: str) -> str:
    return Tf.MakeValidIdentifier(name or "part")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken or candidate in ("Materials",):
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).rstrip(".")
    return text if len(text) <= limit else text[: limit - 1] + "…"
