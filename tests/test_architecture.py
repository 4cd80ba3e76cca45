"""Layer rules (pyproject's import-linter contracts) hold: engine/ and adapters/ never import Qt."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev dependencies"
    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_listing_adapters_imports_no_heavy_library():
    code = ("import sys; from adapters.registry import default_registry as r; "
            "[s.describe() for s in r().specs]; "
            "print(sorted(m for m in ('torch', 'xatlas', 'fast_simplification', 'PySide6') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_view_models_import_no_widgets_so_they_run_without_a_display():
    import ast

    offenders = []
    for path in (ROOT / "app" / "viewmodels").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n.startswith(("PySide6.QtWidgets", "pyvistaqt", "app.views"))]
    assert offenders == []


def test_an_adapter_package_keeps_its_helpers_to_itself():
    """Only adapters/<name>/ imports adapters.<name>._*; what several adapters use lives in
    adapters/_shared, and the manifest names public modules or packages only."""
    import ast

    from adapters.registry import SPECS

    offenders = []
    for path in (ROOT / "adapters").rglob("*.py"):
        owner = path.relative_to(ROOT / "adapters").parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                targets = [[*parts, a.name] for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".") for a in node.names]
            else:
                continue
            for t in targets:
                private = (len(t) >= 3 and t[0] == "adapters" and not t[1].startswith("_")
                           and t[2].startswith("_"))
                if private and t[1] != owner:
                    offenders.append(f"{path.relative_to(ROOT)}: {'.'.join(t)}")
    assert offenders == []
    named = [ref.split(":")[0] for s in SPECS for ref in (s.entry, s.params)]
    assert [m for m in named if any(p.startswith("_") for p in m.split("."))] == []


def test_specs_that_share_an_adapter_id_share_its_class_so_one_warm_worker_serves_them():
    """The scheduler keeps one warm worker per adapter id (Hunyuan3D raw and painted, inflate,
    Shap-E): each job brings its own spec for its parameters, the class must be the same."""
    from collections import defaultdict

    from adapters.registry import SPECS
    from engine.contract.spec import AdapterSpec
    from engine.errors import MeshsmithError
    from engine.workers.worker import job_spec

    by_id: dict[str, set[tuple]] = defaultdict(set)
    for spec in SPECS:
        by_id[spec.id].add((spec.entry, spec.devices, spec.resident_vram_mb, spec.resident_ram_mb))
    assert {i: v for i, v in by_id.items() if len(v) > 1} == {}
    assert any(len([s for s in SPECS if s.id == i]) > 1 for i in by_id)  # the case exists
    raw, painted = (s for s in SPECS if s.id == "hunyuan3d")
    assert job_spec(raw, {"spec": painted.model_dump_json()}) == painted
    assert job_spec(raw, {}) == raw
    other = AdapterSpec(**{**raw.model_dump(), "entry": "adapters.inflate:InflateAdapter"})
    with pytest.raises(MeshsmithError):
        job_spec(raw, {"spec": other.model_dump_json()})
