"""What `make setup` installs stays lean, and the optional Hunyuan3D part brings exactly what
hy3dgen's shape pipeline imports: none of its declared web-app baggage (gradio, rembg,
onnxruntime, a second, GUI OpenCV), and torch pinned in every pip call. FastAPI and uvicorn,
which hy3dgen also declares for its demo, are Meshsmith's own: the HTTP API (app/server,
``main.py serve`` and the studio's Serve menu) runs on them."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BAGGAGE = {"gradio", "rembg", "onnxruntime", "onnxruntime-gpu", "opencv-python",
           "opencv-contrib-python", "hy3dgen", "pygltflib", "ninja", "pybind11"}
OUR_SERVER = {"fastapi", "uvicorn"}  # app/server's, declared by us, not pulled in by hy3dgen
# shapegen imports these only when asked (sageattention with USE_SAGEATTN=1, diso for the CUDA
# "dmc" surface extractor Meshsmith does not use) or gets them lent (torchvision:
# adapters/hunyuan3d/_vision_transforms.py, for CPU torch builds that PyPI's CUDA torchvision
# cannot join).
NOT_NEEDED = {"sageattention", "diso", "torchvision"}


def closure(requirements: list[str], extras: tuple[str, ...] = ()) -> set[str]:
    """Every distribution the requirements pull in, as installed here (markers evaluated)."""
    seen: set[str] = set()
    todo = [(Requirement(r), ("", *extras)) for r in requirements]
    while todo:
        req, asked = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in asked):
            continue
        name = canonicalize_name(req.name)
        if name in seen and not req.extras:
            continue
        seen.add(name)
        try:
            needs = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req.name} is required but not installed")
        todo += [(Requirement(r), ("", *req.extras)) for r in needs]
    return seen


def test_the_base_dependencies_bring_no_web_app_baggage():
    base = closure(PROJECT["dependencies"])
    assert {"torch", "diffusers", "opencv-python-headless"} | OUR_SERVER <= base
    assert base & BAGGAGE == set()


def test_the_hunyuan_part_adds_only_what_it_needs():
    with_hunyuan = closure(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["hunyuan"])
    assert with_hunyuan & BAGGAGE == set()
    declared = {canonicalize_name(r.split(">")[0].split("=")[0])
                for r in metadata.requires("hy3dgen") or []}
    assert {"gradio", "fastapi", "onnxruntime", "opencv-python"} <= declared  # what we avoid


def shapegen_imports() -> set[str]:
    """Top-level modules hy3dgen.shapegen's files import (from its installed sources)."""
    files = [Path(str(f.locate())) for f in metadata.files("hy3dgen") or []
             if str(f).startswith("hy3dgen/shapegen/") and str(f).endswith(".py")]
    assert files, "hy3dgen is not installed: make setup-hunyuan"
    found: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - {"hy3dgen"}


def test_every_module_shapegen_imports_comes_from_the_base_set_or_the_hunyuan_extra():
    import sys

    providers = metadata.packages_distributions()
    extra = {canonicalize_name(Requirement(r).name)
             for r in PROJECT["optional-dependencies"]["hunyuan"]}
    installed = closure(PROJECT["dependencies"]) | extra
    used_extra = set()
    for module in sorted(shapegen_imports() - NOT_NEEDED - set(sys.stdlib_module_names)):
        owners = {canonicalize_name(d) for d in providers.get(module, [])}
        assert owners & installed, f"{module} (from {owners}) is not installed by setup-hunyuan"
        used_extra |= owners & extra
    assert used_extra == extra  # and the extra holds nothing shapegen does not import


def pip_calls() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return [line.strip() for line in text.splitlines() if "pip install" in line]


def test_every_pip_call_pins_torch_and_hy3dgen_comes_without_its_dependencies():
    calls = pip_calls()
    assert len(calls) >= 3
    for call in calls:
        if re.search(r"pip install --quiet --upgrade pip$", call):
            continue  # pip itself
        assert "torch==2.13.0" in call, call
    hy3dgen = [c for c in calls if "HY3DGEN" in c]
    assert len(hy3dgen) == 1 and "--no-deps" in hy3dgen[0]
    assert "HY3DGEN := hy3dgen==2.0.2" in (ROOT / "Makefile").read_text()


def test_plain_setup_installs_neither_hy3dgen_nor_the_hunyuan_extra():
    makefile = (ROOT / "Makefile").read_text()
    setup = makefile.split("$(VENV)/.installed: pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert "hunyuan" not in setup and "HY3DGEN" not in setup
    assert "'.[dev]'" in setup
