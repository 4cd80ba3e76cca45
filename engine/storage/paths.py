"""Where Meshsmith keeps its data: one directory, ``MESHSMITH_HOME`` or the platform default."""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from engine.errors import ErrorCode, MeshsmithError

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
        """Create the folders; a root that is a file, lies in /proc or cannot be written is
        a MeshsmithError with one sentence (STORAGE, or DISK_FULL)."""
        if self.root.exists() and not self.root.is_dir():
            raise _unusable(self.root, "is a file, not a folder")
        try:
            for path in (self.root, self.inputs, self.outputs, self.logs):
                path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unusable(self.root, _why(exc)) from None
        return self

    def check_writable(self) -> DataDir:
        """An engine writes here (lock, history, outputs): refuse a read-only folder up front."""
        for path in (self.root, self.inputs, self.outputs, self.logs):
            if not os.access(path, os.W_OK):
                raise _unusable(self.root, "is read-only")
        return self

    def contains(self, path: Path) -> bool:
        """True when ``path`` (symlinks resolved) lies inside the data directory."""
        try:
            Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        return True


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "is on a full disk"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "is read-only"
    return f"cannot be created ({exc.strerror or exc})"


def _unusable(root: Path, why: str) -> MeshsmithError:
    code = ErrorCode.DISK_FULL if "full disk" in why else ErrorCode.STORAGE
    return MeshsmithError(code, f"The Meshsmith data folder {root} {why}; set MESHSMITH_HOME "
                                "to a folder you can write to.")
