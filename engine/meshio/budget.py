"""What a file may cost before Meshsmith reads it: scene nodes and memory.

Both are checked from what the file declares (the prechecks' counts, an image's header),
before trimesh or Pillow allocate anything, so a small file that declares a huge load is a
sentence, not minutes of parsing or gigabytes of memory.

Memory, measured (docs/reliability.md): trimesh holds about 160 bytes per triangle while a
mesh is read, flattened and checked (faces, vertices, their float64 copies and caches), and
Pillow about 4 bytes per pixel plus a converted copy. A load is refused when that estimate
exceeds what the machine has available now (MemAvailable), less a margin for the rest of
the job.
"""

from __future__ import annotations

import os

from engine.errors import InvalidInput

DEFAULT_MAX_NODES = 20_000  # scene nodes with geometry (instances); trimesh spends ~0.2 ms each
BYTES_PER_FACE = 160
BYTES_PER_PIXEL = 8
EMBEDDED_COPIES = 4  # a base64 data: URI read inline (JSON-escaped), per character of it
STREAMED_COPIES = 2  # a data: URI decoded aside (engine.meshio.embedded), per decoded byte
_HEADROOM = 0.75  # of the memory available now: the job itself needs the rest


def check_node_count(nodes: int, label: str, max_nodes: int = DEFAULT_MAX_NODES) -> None:
    if nodes > max_nodes:
        raise InvalidInput(
            f"{label} has {nodes:,} scene nodes, more than the {max_nodes:,} Meshsmith accepts; "
            "merge its parts into fewer objects first."
        )


def available_bytes() -> int | None:
    """Memory the kernel says a new allocation can have now (MemAvailable); None if unknown.
    MESHSMITH_MEMORY_BYTES overrides it (tests; a container whose limit /proc does not show)."""
    forced = os.environ.get("MESHSMITH_MEMORY_BYTES")
    if forced:
        return int(forced)
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(label: str, *, faces: int = 0, pixels: int = 0, other_bytes: int = 0) -> None:
    """Refuse a load whose estimated memory exceeds what the machine has available."""
    need = faces * BYTES_PER_FACE + pixels * BYTES_PER_PIXEL + other_bytes
    have = available_bytes()
    if have is None or need <= have * _HEADROOM:
        return
    raise InvalidInput(
        f"{label} would need about {_size(need)} of memory to read, more than the {_size(have)} "
        "this machine has free; use a smaller file or close other programs."
    )


def _size(size: int) -> str:
    return f"{size / 1024**3:.1f} GB" if size >= 1024**3 else f"{size // 1024**2:,} MB"
