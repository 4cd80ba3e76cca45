"""The built-in adapters' manifest: static specs, code imported lazily from ``"module:Name"``.

Listing adapters (``main.py adapters --json``, the Create panel) never imports torch or a
model library: only the specs and their light parameter modules.
"""

from __future__ import annotations

from engine.contract.spec import AdapterSpec, Registry
from engine.storage.model_catalog import HUNYUAN_SHAPE_VRAM_MB, model_info

_SHAP_E = model_info("shap-e")
# What the GPU keeps with the weights offloaded layer by layer: Meshsmith's estimate.
_OFFLOADED_MB = 2048
# The largest fp16 Hunyuan3D checkpoint's size (Hunyuan3D-2, about 4.7 GB).
_HUNYUAN_RESIDENT_MB = model_info("hunyuan3d-2").approx_size_mb

SPECS: tuple[AdapterSpec, ...] = (
    AdapterSpec(
        id="xatlas", feature="uv_unwrapping", label="xatlas UV atlas",
        description="Cuts the mesh into charts and packs them into one UV atlas, every face "
                    "kept; a textured input's texture is re-baked into the new atlas, an "
                    "untextured one gets a UV checker (checker=false for none).",
        entry="adapters.xatlas_uv:XatlasAdapter", params="adapters.xatlas_uv:XatlasParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=1800,
    ),
    AdapterSpec(
        id="decimate", feature="mesh_retopology", label="Quadric decimation",
        description="Reduces the triangle count while keeping the shape, UVs, textures, "
                    "materials and normals (pymeshlab quadric collapse); says in the result "
                    "when target_faces cannot be met, or reaches it with "
                    "allow_topology_changes (texture baked onto a new atlas).",
        entry="adapters.decimate:DecimateAdapter", params="adapters.decimate:DecimateParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=900,
    ),
    AdapterSpec(
        id="instant_meshes", feature="mesh_retopology", label="Instant Meshes quad remesh",
        description="Rebuilds the surface as clean, evenly sized quads that follow its shape "
                    "(target_faces counts each quad as one face); the GLB holds them split "
                    "into triangles with the input's texture baked onto a new UV atlas, the "
                    "OBJ in outputs keeps the bare quads.",
        entry="adapters.instant_meshes:InstantMeshesAdapter",
        params="adapters.instant_meshes:InstantMeshesParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=1800,
    ),
    AdapterSpec(
        id="spectral", feature="mesh_segmentation", label="Spectral segmentation",
        description="Cuts one mesh into parts along its concave creases (spectral clustering "
                    "of the face graph, boundaries refined by minimum cut).",
        entry="adapters.segmentation:SpectralSegmentationAdapter",
        params="adapters.segmentation:SegmentationParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=900,
    ),
    AdapterSpec(
        id="volumetric", feature="part_completion", label="Volumetric completion",
        description="Rebuilds every part of a segmented GLB as one closed solid: the "
                    "object's solid is divided among the parts, the hidden side where parts "
                    "touched is rebuilt, the visible surface and its colours are kept.",
        entry="adapters.volumetric_parts:VolumetricPartsAdapter",
        params="adapters.volumetric_parts:VolumetricPartsParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=1800,
    ),
    AdapterSpec(
        id="fill_parts", feature="part_completion", label="Hole filling with fairing",
        description="Closes every part of a segmented GLB into a watertight mesh, patching "
                    "each cut smoothly: faster, for clean parts with few holes.",
        entry="adapters.part_completion:FillPartsAdapter",
        params="adapters.part_completion:PartCompletionParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=900,
    ),
    AdapterSpec(
        id="skeleton_rig", feature="auto_rig", label="Skeleton and heat-diffusion skinning",
        description="Finds a skeleton inside the mesh (geodesic level sets of its voxel solid, "
                    "one chain per limb) and binds the mesh to it with smooth skin weights.",
        entry="adapters.autorig:AutoRigAdapter", params="adapters.autorig:AutoRigParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=900,
    ),
    AdapterSpec(
        id="inflate", feature="image_to_raw_mesh", label="Silhouette inflation",
        description="Cuts the object out of the picture and inflates its outline into a "
                    "closed, rounded mesh (no model weights).",
        entry="adapters.inflate:InflateAdapter", params="adapters.inflate:InflateParams",
        inputs=("image",), devices=("cpu",), timeout_s=600,
    ),
    AdapterSpec(
        id="inflate", feature="image_to_textured_mesh", label="Silhouette inflation, textured",
        description="Inflates the picture's object into a closed mesh with the picture "
                    "painted on the front and mirrored onto the back (no model weights).",
        entry="adapters.inflate:InflateAdapter", params="adapters.inflate:InflateTexturedParams",
        inputs=("image",), devices=("cpu",), timeout_s=600,
    ),
    AdapterSpec(
        id="project", feature="image_mesh_painting", label="Projection painting",
        description="Projects the picture onto the mesh from a camera, bakes it into a UV "
                    "atlas and fills what the camera cannot see by diffusion.",
        entry="adapters.project_paint:ProjectAdapter",
        params="adapters.project_paint:ProjectParams",
        inputs=("mesh", "image"), devices=("cpu",), timeout_s=900,
    ),
    # Neural adapters: weights from the Models page (engine.storage.models). Peak VRAM comes
    # from the model catalog (the publisher's figure where there is one), for the default
    # model in fp16; the memory plan offloads to the CPU on a smaller GPU, down to min_vram_mb
    # (Meshsmith's estimate until the GPU check measures it). On the CPU a warm worker keeps
    # at least the weights as stored in RAM (resident_ram_mb: the catalog's download size).
    AdapterSpec(
        id="shap_e", feature="text_to_raw_mesh", label="Shap-E",
        description="OpenAI's Shap-E makes a 3D shape from a sentence (needs the Shap-E "
                    "model; fast on a GPU, minutes on the CPU).",
        entry="adapters.shap_e:ShapETextAdapter", params="adapters.shap_e:ShapEParams",
        inputs=(), devices=("cuda", "cpu"), peak_vram_mb=_SHAP_E.peak_vram_mb,
        resident_vram_mb=2600, min_vram_mb=_OFFLOADED_MB, timeout_s=3600,
        resident_ram_mb=_SHAP_E.approx_size_mb,
    ),
    AdapterSpec(
        id="shap_e", feature="text_to_textured_mesh", label="Shap-E, coloured",
        description="OpenAI's Shap-E makes a 3D shape with vertex colours from a sentence "
                    "(needs the Shap-E model).",
        entry="adapters.shap_e:ShapETextAdapter", params="adapters.shap_e:ShapETexturedParams",
        inputs=(), devices=("cuda", "cpu"), peak_vram_mb=_SHAP_E.peak_vram_mb,
        resident_vram_mb=2600, min_vram_mb=_OFFLOADED_MB, timeout_s=3600,
        resident_ram_mb=_SHAP_E.approx_size_mb,
    ),
    AdapterSpec(
        id="shap_e_img2img", feature="image_to_raw_mesh", label="Shap-E image-to-3D",
        description="OpenAI's Shap-E makes a 3D shape of the object in a picture (needs the "
                    "Shap-E image-to-3D model).",
        entry="adapters.shap_e:ShapEImageAdapter", params="adapters.shap_e:ShapEImageParams",
        inputs=("image",), devices=("cuda", "cpu"),
        peak_vram_mb=model_info("shap-e-img2img").peak_vram_mb, resident_vram_mb=3300,
        min_vram_mb=_OFFLOADED_MB, timeout_s=3600,
        resident_ram_mb=model_info("shap-e-img2img").approx_size_mb,
    ),
    AdapterSpec(
        id="depth_relief", feature="image_to_raw_mesh", label="Depth relief",
        description="Depth Anything estimates how near each part of the picture is, and the "
                    "estimate becomes a closed relief with a flat back (needs the Depth "
                    "Anything model).",
        entry="adapters.depth_relief:DepthReliefAdapter",
        params="adapters.depth_relief:DepthReliefParams",
        inputs=("image",), devices=("cuda", "cpu"),
        peak_vram_mb=model_info("depth-anything-v2-small").peak_vram_mb, resident_vram_mb=200,
        timeout_s=900, resident_ram_mb=model_info("depth-anything-v2-small").approx_size_mb,
    ),
    AdapterSpec(
        id="hunyuan3d", feature="image_to_raw_mesh", label="Hunyuan3D-2",
        description="Tencent's Hunyuan3D-2 makes a detailed 3D shape of the object in a "
                    "picture (or in two to four views with Hunyuan3D-2mv). Needs the optional "
                    "hy3dgen part (make setup-hunyuan) and a Hunyuan3D model; its licence "
                    "excludes the EU, the UK and South Korea.",
        entry="adapters.hunyuan3d:HunyuanAdapter", params="adapters.hunyuan3d:HunyuanParams",
        inputs=("image",), more_inputs=3, devices=("cuda", "cpu"),
        peak_vram_mb=HUNYUAN_SHAPE_VRAM_MB, resident_vram_mb=_HUNYUAN_RESIDENT_MB,
        min_vram_mb=_OFFLOADED_MB, timeout_s=7200, resident_ram_mb=_HUNYUAN_RESIDENT_MB,
    ),
    AdapterSpec(
        id="hunyuan3d", feature="image_to_textured_mesh", label="Hunyuan3D-2, painted",
        description="Hunyuan3D-2's shape with the picture projected onto it and baked into a "
                    "UV atlas (Meshsmith's projection painting, not Hunyuan3D-Paint).",
        entry="adapters.hunyuan3d:HunyuanAdapter",
        params="adapters.hunyuan3d:HunyuanTexturedParams",
        inputs=("image",), more_inputs=3, devices=("cuda", "cpu"),
        peak_vram_mb=HUNYUAN_SHAPE_VRAM_MB, resident_vram_mb=_HUNYUAN_RESIDENT_MB,
        min_vram_mb=_OFFLOADED_MB, timeout_s=7200, resident_ram_mb=_HUNYUAN_RESIDENT_MB,
    ),
)


def default_registry() -> Registry:
    return Registry(SPECS)
