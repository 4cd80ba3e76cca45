"""Pipeline recipes: an ordered list of steps (feature, adapter, params), each fed by the
output of an earlier step by job id. Built-in recipes ship here; the artist's own are JSON
files under ``<data>/recipes/``, validated with extra="forbid" so a typo is an error, not a
silently ignored key. ``engine.pipelines.runner`` runs them. docs/pipelines.md has the format.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.contract.spec import AdapterSpec, Registry
from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import FEATURES
from engine.meshio.staging import KIND_PHRASE
from engine.storage.paths import DataDir

log = logging.getLogger(__name__)
# "previous": the step before's output (the pipeline's input for the first step);
# "input": the pipeline's own input; "step:N": the output of step N (1-based, an earlier one).
_INPUT_REF = re.compile(r"previous|input|step:[1-9][0-9]*")


class RecipeStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str
    adapter: str | None = None  # the feature's first adapter when left out
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=lambda: ["previous"], min_length=1, max_length=4)

    @field_validator("feature")
    @classmethod
    def _known_feature(cls, value: str) -> str:
        if value not in FEATURES:
            raise ValueError(f"unknown feature {value!r}")
        return value

    @field_validator("inputs")
    @classmethod
    def _known_refs(cls, refs: list[str]) -> list[str]:
        for ref in refs:
            if not _INPUT_REF.fullmatch(ref):
                raise ValueError(f"{ref!r} is not 'previous', 'input' or 'step:N'")
        return refs


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    steps: list[RecipeStep] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _refs_point_back(self) -> Recipe:
        for index, step in enumerate(self.steps):
            for ref in step.inputs:
                if ref.startswith("step:") and not 1 <= int(ref[5:]) <= index:
                    raise ValueError(f"step {index + 1} takes {ref}, which is not an earlier step")
        return self


def _step(feature: str, adapter: str, inputs: tuple[str, ...] = ("previous",),
          **params: Any) -> RecipeStep:
    return RecipeStep(feature=feature, adapter=adapter, params=params, inputs=list(inputs))


BUILTIN: dict[str, Recipe] = {
    "image-to-game-ready": Recipe(
        name="Image to game-ready asset",
        description="Inflates the picture into a mesh, brings it down to 5,000 triangles, "
                    "unwraps its UVs and paints the picture back onto it.",
        steps=[_step("image_to_textured_mesh", "inflate", ("input",)),
               _step("mesh_retopology", "decimate", target_faces=5000),
               _step("uv_unwrapping", "xatlas"),
               _step("image_mesh_painting", "project", ("previous", "input"))],
    ),
    "clean-up-scan": Recipe(
        name="Clean up a scan",
        description="Reduces a dense scan to 20,000 triangles and unwraps its UVs.",
        steps=[_step("mesh_retopology", "decimate", target_faces=20000),
               _step("uv_unwrapping", "xatlas")],
    ),
    "split-into-parts": Recipe(
        name="Split into closed parts",
        description="Cuts the mesh into parts along its creases and rebuilds every part as "
                    "one closed solid.",
        steps=[_step("mesh_segmentation", "spectral"), _step("part_completion", "volumetric")],
    ),
    "rig-for-games": Recipe(
        name="Retopologize and rig",
        description="Brings the mesh down to 10,000 triangles, then fits a skeleton and skin.",
        steps=[_step("mesh_retopology", "decimate", target_faces=10000),
               _step("auto_rig", "skeleton_rig")],
    ),
}


class RecipeBook:
    """The built-in recipes and the ones saved under ``<data>/recipes/``. Saved files that do
    not validate are left out of ``all()`` and named in ``problems`` (one sentence each)."""

    def __init__(self, data: DataDir) -> None:
        self.folder = data.recipes
        self.problems: list[str] = []

    def all(self) -> list[tuple[str, Recipe]]:
        """(id, recipe): the built-ins first, then the saved ones by file name."""
        self.problems = []
        saved = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                saved.append((path.stem, load_recipe(path)))
            except MeshsmithError as exc:
                log.warning("skipping recipe %s: %s", path, exc.message)
                self.problems.append(exc.message)
        return [*BUILTIN.items(), *saved]

    def find(self, key: str) -> tuple[str, Recipe]:
        """A recipe by id, by name (any case) or, when ``key`` is a .json file, that file."""
        path = Path(key)
        if path.suffix == ".json" and path.is_file():
            return path.stem, load_recipe(path)
        for recipe_id, recipe in self.all():
            if key in (recipe_id, recipe.name) or key.lower() == recipe.name.lower():
                return recipe_id, recipe
        known = ", ".join(recipe_id for recipe_id, _ in self.all())
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"There is no recipe {key!r}; choose one of {known}.")

    def save(self, recipe: Recipe, recipe_id: str | None = None) -> Path:
        """Write ``recipe`` as ``<id>.json`` (its name made file-safe unless given)."""
        recipe_id = recipe_id or _slug(recipe.name)
        if recipe_id in BUILTIN:
            raise MeshsmithError(ErrorCode.INVALID_INPUT,
                                 f"{recipe_id!r} is a built-in recipe; save yours under another name.")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{recipe_id}.json"
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_text(recipe.model_dump_json(indent=2, exclude_defaults=False))
        os.replace(tmp, path)  # never half a recipe
        return path


def load_recipe(path: Path) -> Recipe:
    try:
        return Recipe.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"The recipe {path.name} cannot be read ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, f"The recipe {path.name} is not valid "
                             f"JSON (line {exc.lineno}: {exc.msg}).") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"The recipe {path.name} is not valid: {where}: {first['msg']}.") from None


def check_recipe(recipe: Recipe, registry: Registry, input_kind: str) -> list[AdapterSpec]:
    """Every step's adapter, parameters and input kinds checked before anything is queued,
    so a recipe that cannot finish fails at once with the step it would have failed at."""
    specs = []
    for index, step in enumerate(recipe.steps):
        where = f"Step {index + 1} of {recipe.name!r} ({step.feature})"
        try:
            spec = registry.find(step.feature, step.adapter)
            spec.parse_params(step.params)
        except MeshsmithError as exc:
            raise MeshsmithError(exc.code, f"{where}: {exc.message}") from None
        kinds = [input_kind if ref == "input" or (ref == "previous" and index == 0) else "mesh"
                 for ref in step.inputs]
        if list(spec.inputs) != kinds:
            wanted = " and ".join(KIND_PHRASE.get(k, k) for k in spec.inputs) or "no input"
            given = " and ".join(KIND_PHRASE.get(k, k) for k in kinds)
            raise MeshsmithError(ErrorCode.INVALID_INPUT,
                                 f"{where} takes {wanted}, but would be given {given}.")
        specs.append(spec)
    return specs


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:60] or "recipe"
