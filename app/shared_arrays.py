"""Full-detail arrays from the viewport's helper to the studio without pickling them.

Ten million faces are ~360 MB of vertices, faces and normals. Pickled, they were built in
the helper, written down a pipe, and rebuilt on the studio's result thread, which held the
GIL for the whole unpickling (the GUI's longest stalls), with two copies alive on each side
meanwhile. Instead the helper writes them once into an anonymous memory file
(``os.memfd_create``: it has no name in /dev/shm, so nothing can be left behind there, not
even by a crash), and answers with a small ``Packet`` saying where each array lies. The
studio maps the same file (through ``/proc/<helper>/fd``) and wraps numpy arrays, then VTK
arrays, around those pages: no copy on either side. The helper unmaps its view as soon as
it has answered and keeps only the descriptor until the studio says ``release`` (or until
a newer packet replaces it), so the memory belongs to the studio's arrays alone, and goes
when they do. Where memfd is missing (not Linux), the arrays travel pickled, as before;
where the studio cannot open the helper's file (``unpack`` raises ``LookupError``: a
locked-down /proc), the view model asks for the level again, pickled.
No Qt and no VTK here.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

_KEEP = 2  # packets the helper holds for the studio; older ones are closed
_HELD: dict[str, int] = {}  # helper side: packet key -> memfd the studio may still open


@dataclass(frozen=True)
class Slot:
    """Where one array lies in the packet's memory file."""

    offset: int
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Packet:
    """What travels pickled: the memfd's whereabouts and the items, arrays as ``Slot``s."""

    key: str
    pid: int
    fd: int  # -1: no memory file, the items hold their arrays
    inode: int
    size: int
    items: tuple[Any, ...]


class Arena:
    """Helper side: ``empty`` allocates arrays in one growing memory file (or, without
    memfd, in ordinary memory); ``pack`` turns dataclasses holding them into a ``Packet``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._fd = os.memfd_create(f"meshsmith-{key}", os.MFD_CLOEXEC) \
            if hasattr(os, "memfd_create") else -1
        self._size = 0
        self._slots: dict[int, Slot] = {}  # id(array) -> where it lies

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        if self._fd < 0 or count == 0:
            return np.empty(shape, dtype=dtype)
        length = -(-count * dtype.itemsize // mmap.ALLOCATIONGRANULARITY) \
            * mmap.ALLOCATIONGRANULARITY
        start, self._size = self._size, self._size + length
        os.ftruncate(self._fd, self._size)
        array = np.frombuffer(mmap.mmap(self._fd, length, offset=start), dtype=dtype,
                              count=count).reshape(shape)
        self._slots[id(array)] = Slot(start, dtype.str, tuple(shape))
        return array

    def pack(self, items: tuple[Any, ...]) -> Packet:
        """``items`` (dataclasses, or None) with every array made by ``empty`` replaced by its
        ``Slot``; the caller then drops the arrays, which unmaps them here."""
        if self._fd < 0:
            return Packet(self.key, os.getpid(), -1, 0, 0, items)
        packed = tuple(None if item is None else _swap(item, self._slot) for item in items)
        _HELD[self.key] = self._fd
        for old in list(_HELD)[:-_KEEP]:
            os.close(_HELD.pop(old))
        return Packet(self.key, os.getpid(), self._fd, os.fstat(self._fd).st_ino, self._size,
                      packed)

    def discard(self) -> None:
        """Close the memory file unsent (the work failed)."""
        if self._fd >= 0 and self.key not in _HELD:
            os.close(self._fd)
        self._fd = -1

    def _slot(self, value: Any) -> Any:
        return self._slots.get(id(value), value) if isinstance(value, np.ndarray) else value


def release(key: str) -> None:
    """Helper side: the studio has mapped packet ``key`` (or will never want it)."""
    fd = _HELD.pop(key, None)
    if fd is not None:
        os.close(fd)


def held() -> int:
    """Helper side: memory files still held for the studio (tests check nothing lingers)."""
    return len(_HELD)


def unpack(packet: Packet) -> tuple[Any, ...]:
    """Studio side: the items with their arrays mapped from the helper's memory file.
    Raises ``LookupError`` when that file is gone (the helper released or lost it)."""
    if packet.fd < 0:
        return packet.items
    try:
        fd = os.open(f"/proc/{packet.pid}/fd/{packet.fd}", os.O_RDWR)
    except OSError as exc:
        raise LookupError(f"the helper's memory file {packet.key} is gone") from exc
    try:
        if os.fstat(fd).st_ino != packet.inode:  # the number was reused for another file
            raise LookupError(f"the helper's memory file {packet.key} is gone")
        memory = mmap.mmap(fd, packet.size)
    finally:
        os.close(fd)

    def array(value: Any) -> Any:
        if not isinstance(value, Slot):
            return value
        count = int(np.prod(value.shape))
        return np.frombuffer(memory, dtype=np.dtype(value.dtype), count=count,
                             offset=value.offset).reshape(value.shape)

    return tuple(None if item is None else _swap(item, array) for item in packet.items)


def _swap(item: Any, change: Any) -> Any:
    """A dataclass (or a tuple of them) with ``change`` applied to each field's value."""
    if isinstance(item, tuple):
        return tuple(_swap(i, change) for i in item)
    return replace(item, **{f.name: change(getattr(item, f.name)) for f in fields(item)})
