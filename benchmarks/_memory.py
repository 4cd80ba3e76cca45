"""Peak memory of a stretch of work in this process (Linux): the kernel's high-water mark of
resident memory (VmHWM), reset before the work starts."""

from __future__ import annotations

from pathlib import Path


def reset_peak() -> bool:
    """Start a new high-water mark; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float | None:
    """The resident-memory high-water mark since the last reset, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None
