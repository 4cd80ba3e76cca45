"""Layer rules (pyproject's import-linter contracts) hold: engine/ and adapters/ never import Qt."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
