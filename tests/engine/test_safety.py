"""Safety rules that hold for the whole code base: no unpickling, strict parameters, outputs
confined to the job's own folder under names Meshsmith chooses."""

from __future__ import annotations

import ast
import typing
from enum import Enum
from pathlib import Path

import pytest
import trimesh
from pydantic import BaseModel, ValidationError

from adapters.registry import SPECS
from engine.contract.protocol import AdapterOutput, ExtraOutput
from engine.contract.spec import AdapterSpec
from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import ErrorInfo, Job, JobResult, JobSpec, new_job_id
from engine.storage.paths import DataDir
from engine.workers import results
from tests.conftest import ROOT

SOURCES = [
    *sorted(p for folder in ("engine", "adapters", "app") for p in (ROOT / folder).rglob("*.py")),
    ROOT / "main.py",
]
UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_loads(tree: ast.AST) -> list[tuple[int, str]]:
    """Lines that import an unpickler or load pickles: ``torch.load`` without
    ``weights_only=True``, ``numpy.load(allow_pickle=True)``, ``pandas.read_pickle``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names
                      if a.name.split(".")[0] in UNPICKLERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
            found.append((node.lineno, f"from {node.module} import ..."))
        elif isinstance(node, ast.ImportFrom) and node.module == "torch" and any(
            a.name == "load" for a in node.names
        ):
            found.append((node.lineno, "from torch import load"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            kwargs = {k.arg: k.value for k in node.keywords}
            if node.func.attr == "load" and owner == "torch" and not (
                "weights_only" in kwargs and _is_true(kwargs["weights_only"])
            ):
                found.append((node.lineno, "torch.load without weights_only=True"))
            if node.func.attr == "load" and owner in {"np", "numpy"} and _is_true(
                kwargs.get("allow_pickle", ast.Constant(False))
            ):
                found.append((node.lineno, "numpy.load(allow_pickle=True)"))
            if node.func.attr == "read_pickle":
                found.append((node.lineno, "read_pickle"))
    return found


def test_no_pickle_and_no_unsafe_torch_load_anywhere():
    assert len(SOURCES) > 20
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in unsafe_loads(tree)]
    assert offenders == []


@pytest.mark.parametrize("source, hits", [
    ("import pickle", 1),
    ("from pickle import loads", 1),
    ("import dill as d", 1),
    ("import torch\ntorch.load('w.pt')", 1),
    ("torch.load('w.pt', weights_only=False)", 1),
    ("torch.load('w.pt', map_location='cpu', weights_only=True)", 0),
    ("from torch import load", 1),
    ("np.load('a.npy', allow_pickle=True)", 1),
    ("np.load('a.npy')", 0),
    ("json.load(f)", 0),
])
def test_the_scanner_catches_what_it_should(source, hits):
    assert len(unsafe_loads(ast.parse(source))) == hits


# ----------------------------------------------------------------------------- parameters


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model nested in its fields."""
    found, todo = [], [model]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        for field in current.model_fields.values():
            for arg in (field.annotation, *typing.get_args(field.annotation)):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    todo.append(arg)
    return found


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_every_adapter_refuses_unknown_parameters(spec: AdapterSpec):
    for model in _models(spec.params_model()):
        assert model.model_config.get("extra") == "forbid", model.__name__
    with pytest.raises(ValidationError) as err:
        spec.params_model().model_validate({"__class__": "x", "path": "/etc/passwd"})
    assert {"extra_forbidden"} <= {e["type"] for e in err.value.errors()}
    with pytest.raises(MeshsmithError) as refused:
        spec.parse_params({"__class__": "x"})
    assert refused.value.code == ErrorCode.INVALID_PARAMS


OUTPUT_WORDS = ("path", "file", "dir", "folder", "output", "out_", "filename", "name")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_no_parameter_names_where_an_output_goes(spec: AdapterSpec):
    """Output names are Meshsmith's own: a text parameter that looks like a destination must
    refuse a path (free text such as a prompt or a model id is not a destination)."""
    model = spec.params_model()
    for name, field in model.model_fields.items():
        kinds = {field.annotation, *typing.get_args(field.annotation)}
        textual = kinds & {str, Path} or any(isinstance(k, type) and issubclass(k, Enum)
                                             for k in kinds)
        if textual and any(word in name.lower() for word in OUTPUT_WORDS):
            with pytest.raises(ValidationError):
                model.model_validate({name: "../../outside/evil.glb"})


def test_the_contract_models_refuse_unknown_fields():
    for model in (AdapterSpec, JobSpec, JobResult, Job, ErrorInfo):
        assert model.model_config.get("extra") == "forbid", model.__name__


# ----------------------------------------------------------------------------- outputs


def test_output_folders_are_job_ids_and_never_paths(tmp_path: Path):
    data = DataDir(tmp_path / "home")
    job_id = new_job_id()
    assert len(job_id) == 12 and int(job_id, 16) >= 0
    assert data.job_output(job_id) == data.outputs / job_id
    for bad in ("../escape", "a/b", "..", "", "x" * 65, "/etc", "a\x00b", "ü"):
        with pytest.raises(ValueError):
            data.job_output(bad)


def box_output(**extra) -> AdapterOutput:
    return AdapterOutput(mesh=trimesh.creation.box(), **extra)


def test_results_are_written_under_fixed_names_in_the_job_folder(tmp_path: Path):
    out_dir = tmp_path / "outputs" / new_job_id()
    fields = results.build_outputs(box_output(), out_dir)
    assert fields["output_file_path"] == str(out_dir / results.PRIMARY_NAME)
    assert sorted(p.name for p in out_dir.iterdir()) <= [results.PRIMARY_NAME,
                                                         results.THUMBNAIL_NAME]
    assert all(Path(o["path"]).parent == out_dir for o in fields["outputs"])


@pytest.mark.parametrize("where", ["outside", "traversal", "symlink", "missing"])
def test_an_extra_output_outside_the_job_folder_is_refused(tmp_path: Path, where: str):
    out_dir = tmp_path / "outputs" / "job1"
    out_dir.mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    path = {
        "outside": secret,
        "traversal": out_dir / ".." / ".." / "secret.txt",
        "symlink": out_dir / "report.json",
        "missing": out_dir / "never-written.json",
    }[where]
    if where == "symlink":
        path.symlink_to(secret)
    extra = ExtraOutput(role="report", path=path, media_type="application/json")
    with pytest.raises(MeshsmithError) as err:
        results.build_outputs(box_output(extra_outputs=[extra]), out_dir)
    assert err.value.code == ErrorCode.OUTPUT_INVALID
    assert secret.read_text() == "not yours"


def test_an_extra_output_inside_the_job_folder_is_listed(tmp_path: Path):
    out_dir = tmp_path / "outputs" / "job1"
    out_dir.mkdir(parents=True)
    (out_dir / "parts.json").write_text("{}")
    extra = ExtraOutput(role="report", path=out_dir / "parts.json", media_type="application/json")
    fields = results.build_outputs(box_output(extra_outputs=[extra]), out_dir)
    assert {"role": "report", "path": str(out_dir / "parts.json"),
            "media_type": "application/json"} in fields["outputs"]
