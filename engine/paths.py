"""Where Meshsmith keeps its data: one directory, ``MESHSMITH_HOME`` or the platform default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs


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

    def job_output(self, job_id: str) -> Path:
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
