"""Run the Khronos glTF validator (npm package `gltf-validator`) from Python tests.

Every GLB Meshsmith writes must pass the validator with zero errors (docs: DESIGN.md,
"Outputs an artist can trust"). The validator only ships as JS, so this shells out to
`node tests/support/validate_gltf.mjs`, which prints one compact JSON report per file.
Setup: `npm ci` in the repository root (package.json pins the validator version).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().with_name("validate_gltf.mjs")
PACKAGE_DIR = REPO_ROOT / "node_modules" / "gltf-validator"
# The script's exit code when it cannot import the package (see validate_gltf.mjs).
_EXIT_PACKAGE_MISSING = 3
# Generous: validating a few-hundred-MB GLB takes tens of seconds; a hang must still end.
_TIMEOUT_S = 300.0


class GltfValidatorUnavailable(RuntimeError):
    """Node or the gltf-validator package is missing, so nothing could be validated."""


def _node_executable() -> str:
    # MESHSMITH_NODE lets a machine with several Node installs pick one explicitly.
    node = os.environ.get("MESHSMITH_NODE") or shutil.which("node")
    if not node:
        raise GltfValidatorUnavailable(
            "Node.js was not found on PATH; install Node 18+ and run `npm ci` in "
            f"{REPO_ROOT} to use the glTF validator."
        )
    return node


def validate_glb(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate one .glb/.gltf file and return its compact report.

    Keys: path, numErrors, numWarnings, errors (list of {code, message, pointer?, offset?}),
    info (generator, totalVertexCount, totalTriangleCount, drawCallCount, ... when present).
    """
    if not PACKAGE_DIR.is_dir():
        raise GltfValidatorUnavailable(
            f"The npm package gltf-validator is not installed in {REPO_ROOT / 'node_modules'}; "
            f"run `npm ci` in {REPO_ROOT}."
        )
    target = Path(path).resolve()
    proc = subprocess.run(
        [_node_executable(), str(SCRIPT), str(target)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    if proc.returncode == _EXIT_PACKAGE_MISSING:
        raise GltfValidatorUnavailable(proc.stderr.strip())
    # Exit 0 = valid, 1 = the file has errors; both still print a report on stdout.
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode not in (0, 1) or len(lines) != 1:
        raise RuntimeError(
            f"validate_gltf.mjs failed on {target} (exit {proc.returncode}): "
            f"{proc.stderr.strip() or proc.stdout.strip() or 'no output'}"
        )
    report: dict[str, Any] = json.loads(lines[0])
    return report


def format_errors(report: dict[str, Any]) -> str:
    """One line per validator error: CODE at /json/pointer (or byte offset): message."""
    lines = []
    for err in report.get("errors", []):
        where = err.get("pointer") or (f"byte {err['offset']}" if "offset" in err else "file")
        lines.append(f"  {err['code']} at {where}: {err['message']}")
    return "\n".join(lines)


def assert_valid_glb(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Fail (AssertionError) with every validator error if the file has any; else return the report."""
    report = validate_glb(path)
    if report["numErrors"] > 0:
        raise AssertionError(
            f"glTF validator found {report['numErrors']} error(s) in {report['path']}:\n"
            + format_errors(report)
        )
    return report
