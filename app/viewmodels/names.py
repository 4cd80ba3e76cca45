"""Plain-language names for jobs: what every panel shows instead of internal ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.contract.spec import Registry
from engine.jobs import JobSpec

FEATURE_LABELS = {
    "text_to_raw_mesh": "Text → mesh", "text_to_textured_mesh": "Text → textured mesh",
    "image_to_raw_mesh": "Image → mesh", "image_to_textured_mesh": "Image → textured mesh",
    "text_mesh_painting": "Paint mesh from text", "image_mesh_painting": "Paint mesh from image",
    "mesh_segmentation": "Segment parts", "part_completion": "Complete parts",
    "auto_rig": "Auto-rig", "mesh_retopology": "Retopologize", "uv_unwrapping": "UV-unwrap",
}
KEY_SETTINGS = 2  # how many settings a job's one-line summary names


def feature_label(feature: str) -> str:
    return FEATURE_LABELS.get(feature, feature.replace("_", " ").capitalize())


def input_name(spec: JobSpec) -> str:
    """The first input's file name, or the prompt of a text job."""
    if spec.inputs:
        return Path(spec.inputs[0]).name
    prompt = str(spec.params.get("prompt") or "").strip()
    return f"“{prompt[:40]}”" if prompt else "no input"


def adapter_label(registry: Registry | None, spec: JobSpec) -> str:
    try:
        return registry.find(spec.feature, spec.adapter).label if registry else spec.adapter
    except Exception:  # an adapter this studio no longer has: its id still says something
        return spec.adapter


def plain_cause(registry: Registry | None, cause: str) -> str:
    """The scheduler names adapters by id ("the running instant_meshes job"): use their
    names, as the Create panel does."""
    for spec in registry.specs if registry is not None else ():
        cause = cause.replace(f" {spec.id} job", f" {spec.label} job")
    return cause


def key_settings(registry: Registry | None, spec: JobSpec) -> str:
    """The settings that tell two jobs of one feature apart: those changed from the adapter's
    defaults first, then the first ones of its form, ``KEY_SETTINGS`` in all."""
    schema: dict[str, Any] = {}
    try:
        if registry is not None:
            schema = registry.find(spec.feature, spec.adapter).params_model().model_json_schema()
    except Exception:
        schema = {}
    props = schema.get("properties", {})
    names = [k for k in spec.params if k != "prompt"]
    changed = [k for k in names if k in props and props[k].get("default") != spec.params[k]]
    chosen = list(dict.fromkeys(changed + names))[:KEY_SETTINGS]
    return ", ".join(f"{_title(k, props.get(k, {}))} {_value(spec.params[k])}" for k in chosen)


def _title(name: str, prop: dict[str, Any]) -> str:
    return str(prop.get("title") or name.replace("_", " ")).lower()


def _value(value: Any) -> str:
    if value is None:  # a blank optional setting: the adapter decides
        return "automatic"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)[:24]
