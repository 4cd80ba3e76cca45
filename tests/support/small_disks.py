"""Real small or read-only filesystems for the storage tests: a tmpfs of a given size.

Mounting needs root (CAP_SYS_ADMIN); where the tests are not root, ``small_disk`` skips the
test with that reason rather than pretend with a fake.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(where: Path, size: str = "4m", read_only: bool = False) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, read_only: bool) -> None:
    subprocess.run(["mount", "-o", f"remount,{'ro' if read_only else 'rw'}", str(where)],
                   check=True)


def fill(where: Path, leave_bytes: int = 0) -> Path:
    """Fill the filesystem holding ``where`` up to ``leave_bytes`` free; returns the filler."""
    filler = where / "filler.bin"
    with open(filler, "wb") as out:
        chunk = b"\0" * 65536
        try:
            while True:
                free = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize
                if free <= leave_bytes:
                    break
                out.write(chunk[: max(1, min(len(chunk), free - leave_bytes))])
                out.flush()
        except OSError:
            pass
    return filler
