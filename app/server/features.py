"""The feature routes (``/api/v1/mesh-generation/...``, ``/auto-rigging/generate-rig``,
``/mesh-segmentation/segment-mesh``, ``/mesh-retopology/retopologize-mesh``,
``/mesh-uv-unwrapping/unwrap-mesh``) with the reviewed server's request fields.

``model_preference`` takes Meshsmith adapter ids; a reviewed field with a counterpart in the
chosen adapter's parameters is passed on, ``params`` carries the adapter's own parameters, and
every field that was given but not used is named in the answer's ``notes``.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from app.server.backend import Backend
from app.server.deps import BackendDep, CallerDep, ConfigDep, StoreDep
from app.server.errors import ApiError
from app.server.inputs import IMAGE_FORMATS, KIND_OF_ROLE, MESH_FORMATS, FileInput, file_input, slot
from engine.contract.spec import AdapterSpec

# reviewed request field -> the adapter parameter that means the same
ALIASES = {"text_prompt": "prompt", "num_parts": "num_parts", "seed": "seed",
           "texture_resolution": "texture_size"}
_NOT_PARAMS = {"output_format", "model_preference", "params"}
_FACES_PER_VERTEX = {"instant_meshes": 1}  # quads; a closed triangle mesh has ~2 per vertex


class FeatureRequest(BaseModel):
    """Fields every feature route takes; subclasses add input slots and reviewed fields."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    roles: ClassVar[tuple[tuple[str, bool], ...]] = ()  # (input role, optional)
    output_format: str = Field("glb", description="Meshsmith writes GLB (the only choice)")
    model_preference: str | None = Field(None, description="A Meshsmith adapter id "
                                         "(/api/v1/system/models); none: the first available")
    params: dict[str, Any] = Field(default_factory=dict, description="Meshsmith: the adapter's "
                                   "own parameters (schemas in /api/v1/system/models)")
    _files: dict[str, FileInput] = PrivateAttr(default_factory=dict)

    @field_validator("output_format")
    @classmethod
    def _glb(cls, value: str) -> str:
        if value.lower() != "glb":
            raise ValueError("Meshsmith writes GLB files; export other formats with "
                             "`main.py export`")
        return "glb"

    @model_validator(mode="after")
    def _inputs(self) -> "FeatureRequest":
        for role, optional in self.roles:
            given = file_input(self, role, optional=optional)
            if given is not None:
                self._files[role] = given
        return self

    @property
    def files(self) -> dict[str, FileInput]:
        return self._files


class TextToRawMeshRequest(FeatureRequest):
    text_prompt: str = Field(min_length=1, max_length=500)


class TextToTexturedMeshRequest(TextToRawMeshRequest):
    texture_prompt: str = ""
    texture_resolution: int = Field(1024, ge=256, le=4096)


class TextMeshPaintingRequest(slot("mesh"), FeatureRequest):
    roles = (("mesh", False),)
    text_prompt: str = Field(min_length=1, max_length=500)
    texture_resolution: int = Field(1024, ge=256, le=4096)


class ImageToRawMeshRequest(slot("image"), FeatureRequest):
    roles = (("image", False),)


class ImageToTexturedMeshRequest(slot("texture_image", optional=True), ImageToRawMeshRequest):
    roles = (("image", False), ("texture_image", True))
    texture_resolution: int = Field(1024, ge=256, le=4096)


class ImageMeshPaintingRequest(slot("mesh"), ImageToRawMeshRequest):
    roles = (("image", False), ("mesh", False))
    texture_resolution: int = Field(1024, ge=256, le=4096)


class MeshRequest(slot("mesh"), FeatureRequest):
    roles = (("mesh", False),)


class AutoRigRequest(MeshRequest):
    rig_mode: Literal["skeleton", "skin", "full"] = "skeleton"


class MeshSegmentationRequest(MeshRequest):
    num_parts: int | None = Field(None, ge=2, le=32, description="Left out: the adapter "
                                  "chooses the count from the mesh's creases and joints")


class MeshRetopologyRequest(MeshRequest):
    target_vertex_count: int | None = Field(None, ge=4, le=25_000_000)
    poly_type: Literal["tri", "quad"] | None = None
    seed: int | None = None


class MeshUVUnwrappingRequest(MeshRequest):
    distortion_threshold: float = Field(1.25, ge=1.0, le=5.0)
    pack_method: Literal["blender", "uvpackmaster", "none"] = "blender"
    save_individual_parts: bool = True
    save_visuals: bool = False


@dataclass(frozen=True)
class FeatureRoute:
    prefix: str
    path: str
    feature: str
    request: type[FeatureRequest]
    what: str  # for "... job queued successfully"


ROUTES = (
    FeatureRoute("/mesh-generation", "/text-to-raw-mesh", "text_to_raw_mesh",
                 TextToRawMeshRequest, "Text-to-raw-mesh generation"),
    FeatureRoute("/mesh-generation", "/text-to-textured-mesh", "text_to_textured_mesh",
                 TextToTexturedMeshRequest, "Text-to-textured-mesh generation"),
    FeatureRoute("/mesh-generation", "/text-mesh-painting", "text_mesh_painting",
                 TextMeshPaintingRequest, "Text-based mesh painting"),
    FeatureRoute("/mesh-generation", "/image-to-raw-mesh", "image_to_raw_mesh",
                 ImageToRawMeshRequest, "Image-to-raw-mesh generation"),
    FeatureRoute("/mesh-generation", "/image-to-textured-mesh", "image_to_textured_mesh",
                 ImageToTexturedMeshRequest, "Image-to-textured-mesh generation"),
    FeatureRoute("/mesh-generation", "/image-mesh-painting", "image_mesh_painting",
                 ImageMeshPaintingRequest, "Image-based mesh painting"),
    FeatureRoute("/mesh-generation", "/part-completion", "part_completion", MeshRequest,
                 "Part completion"),
    FeatureRoute("/auto-rigging", "/generate-rig", "auto_rig", AutoRigRequest, "Auto-rigging"),
    FeatureRoute("/mesh-segmentation", "/segment-mesh", "mesh_segmentation",
                 MeshSegmentationRequest, "Mesh segmentation"),
    FeatureRoute("/mesh-retopology", "/retopologize-mesh", "mesh_retopology",
                 MeshRetopologyRequest, "Mesh retopology"),
    FeatureRoute("/mesh-uv-unwrapping", "/unwrap-mesh", "uv_unwrapping",
                 MeshUVUnwrappingRequest, "Mesh UV unwrapping"),
)


def choose_adapter(backend: Backend, feature: str, preference: str | None) -> AdapterSpec:
    """The adapter to run (disk reads: model weights are checked); a 400 with one sentence
    naming the available ones when the preferred one is unknown or not installed."""
    specs = [s for s in backend.registry.specs if s.feature == feature]
    missing = {s.id: backend.missing_model(s) for s in specs}
    available = [s for s in specs if missing[s.id] is None]
    names = ", ".join(s.id for s in available) or "none"
    if preference is None and available:
        return available[0]
    chosen = next((s for s in available if s.id == preference), None)
    if chosen is not None:
        return chosen
    why = ""
    if missing.get(preference or ""):
        why = f" (its {missing[preference]} weights are not installed: see `main.py models`)"
    elif preference is None and specs:
        why = " (their model weights are not installed: see `main.py models`)"
    model = f"Model '{preference}' is not" if preference else "No model is"
    raise ApiError(400, "MODEL_NOT_AVAILABLE", f"{model} available for {feature}{why}; "
                   f"available models: {names}.")


def adapter_params(body: FeatureRequest, spec: AdapterSpec) -> tuple[dict[str, Any], list[str]]:
    """The adapter's parameters from the reviewed fields and ``params``, and notes on the
    fields that were given but have no counterpart in this adapter."""
    known = set(spec.params_model().model_fields)
    given = body.model_fields_set - _NOT_PARAMS - {f"{r}_{k}" for r, _ in body.roles
                                                   for k in ("path", "base64", "file_id")}
    params: dict[str, Any] = {}
    unused = sorted(body.model_extra or {})
    for field in sorted(given):
        value, target = getattr(body, field), ALIASES.get(field, field)
        if field == "target_vertex_count" and value is not None and "target_faces" in known:
            params["target_faces"] = value * _FACES_PER_VERTEX.get(spec.id, 2)
        elif target in known:
            if value is not None:  # null: the adapter's own default (e.g. choose the count)
                params[target] = value
        else:
            unused.append(field)
    notes = [f"{field} has no counterpart in {spec.id} and was not used." for field in unused]
    return {**params, **body.params}, notes


def ordered_files(body: FeatureRequest, spec: AdapterSpec) -> list[FileInput]:
    """The given files in the order the adapter takes them (by kind: mesh, image)."""
    pending = list(body.files.items())
    ordered = []
    for kind in spec.inputs:
        index = next((i for i, (role, _) in enumerate(pending) if KIND_OF_ROLE[role] == kind),
                     None)
        if index is not None:
            ordered.append(pending.pop(index)[1])
    return ordered + [given for _, given in pending]  # extras: the engine says how many it takes


def _endpoint(route: FeatureRoute) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def submit(body: BaseModel, who: CallerDep, backend: BackendDep, store: StoreDep,
                     config: ConfigDep) -> dict[str, Any]:
        assert isinstance(body, FeatureRequest)

        def work() -> tuple[str, str, list[str]]:
            spec = choose_adapter(backend, route.feature, body.model_preference)
            params, notes = adapter_params(body, spec)
            staged = [backend.stage(f.source(who, config.path_root, store))
                      for f in ordered_files(body, spec)]
            return backend.submit(route.feature, staged, spec.id, params, who.name), spec.id, notes

        job_id, adapter, notes = await asyncio.to_thread(work)  # staging reads and writes files
        return {"job_id": job_id, "status": "queued", "model_preference": adapter,
                "message": f"{route.what} job queued successfully", "notes": notes}

    submit.__annotations__["body"] = route.request  # FastAPI reads the body model from here
    submit.__name__ = route.feature
    return submit


def _catalogue(features: list[str]) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def available_models(backend: BackendDep) -> dict[str, Any]:
        specs = [s for s in backend.registry.specs if s.feature in features]
        installed = await asyncio.to_thread(backend.installed)
        ids = {i for feature in features for i in installed.get(feature, [])}
        return {"available_models": sorted(ids),
                "models_details": {s.id: {"feature": s.feature, "label": s.label,
                                          "description": s.description} for s in specs}}

    return available_models


async def supported_formats() -> dict[str, Any]:
    return {"input_formats": {"mesh": list(MESH_FORMATS), "image": list(IMAGE_FORMATS)},
            "output_formats": ["glb"]}


def routers() -> list[APIRouter]:
    by_prefix: dict[str, APIRouter] = {}
    for route in ROUTES:
        router = by_prefix.setdefault(route.prefix, APIRouter(
            prefix=route.prefix, tags=[route.prefix.strip("/").replace("-", " ").title()]))
        router.add_api_route(route.path, _endpoint(route), methods=["POST"],
                             summary=f"{route.what} ({route.feature})")
    for prefix, router in by_prefix.items():
        features = [r.feature for r in ROUTES if r.prefix == prefix]
        router.add_api_route("/available-models", _catalogue(features), methods=["GET"],
                             summary="Adapters for these routes, and which are installed")
        router.add_api_route("/supported-formats", supported_formats, methods=["GET"],
                             summary="Input and output formats")
    return list(by_prefix.values())
