"""Where Meshsmith keeps its data: one directory, ``MESHSMITH_HOME`` or the platform default."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

# Output folders are named by job id only (new_job_id gives 12 hex digits): never a path.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def default(cls) -> DataDir:
        env = os.environ.get("MESHSMITH_HOME")
        root = Path(env) if env else Path(platformdirs.user_data_dir("Meshsmith", "Meshsmith"))
        return cls(root.expanduser().resolve())

    @property
    def db(self) -> Path:
        return self.root / "jobs.sqlite"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lock(self) -> Path:
        return self.root / "engine.lock"

    @property
    def recipes(self) -> Path:
        """Pipeline recipes the artist saved (engine.pipelines.recipes), one JSON file each."""
        return self.root / "recipes"

    @property
    def socket(self) -> Path:
        """Where the running studio listens for a second launch (engine.runtime.instance)."""
        return self.root / "studio.sock"

    def job_output(self, job_id: str) -> Path:
        if not _JOB_ID.fullmatch(job_id):
            raise ValueError(f"{job_id!r} is not a job id")
        return self.outputs / job_id

    def ensure(self) -> DataDir:
        for path in (self.root, self.inputs, self.outputs, self.logs):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def contains(self, path: Path) -> bool:
        """True when ``path`` (symlinks resolved) lies inside the data directory."""
        try:
            Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        return True
