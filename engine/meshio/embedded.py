"""A .gltf's base64 ``data:`` URIs, streamed instead of held several times over.

Read whole, a 400 MB URI lived in memory about five times (the file's bytes, the decoded text,
the JSON string, trimesh's decoded bytes and its slices). Here the file is scanned in place
(an mmap), each ``"uri": "data:…;base64,…"`` payload is decoded in chunks straight into one
bytearray sized once from its length, the pages already decoded are handed back to the
kernel, and the JSON that goes on to the prechecks and to trimesh is the file with each such
URI replaced by a short name that ``SideFiles`` serves from the decoded buffer (a memoryview:
trimesh's buffer views are slices of it, not copies). Peak memory stays near the decoded size.

A payload JSON escapes (``\\/``) is left inline and read the old way.
"""

from __future__ import annotations

import base64
import binascii
import json
import mmap
import re
from dataclasses import dataclass, field

from engine.errors import InvalidInput

_URI = re.compile(rb'"uri"\s*:\s*"(data:[^",\\]*;base64,)')
_CHUNK = 4 * 1024 * 1024  # base64 characters decoded at a time (a multiple of 4)
_PAGE = mmap.PAGESIZE
NAME = "<embedded buffer {}>"  # no scheme, no "base64,": trimesh asks the resolver for it


@dataclass
class Embedded:
    """The JSON without its data: payloads; the decoded size of each by the name it now has
    (known before decoding, for the prechecks and the memory budget); after ``decode``, the
    decoded buffers by name."""

    json: bytes
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    buffers: dict[str, bytes | memoryview] = field(default_factory=dict)

    @property
    def decoded_bytes(self) -> int:
        return sum(self.sizes.values())

    def decode(self, data: mmap.mmap, label: str, *, as_bytes: set[str] = frozenset()) -> None:
        """Decode every payload (InvalidInput when one is not valid base64). The names in
        ``as_bytes`` become ``bytes`` (Pillow needs them; a copy), the rest stay memoryviews
        that trimesh slices without copying."""
        for name, (start, end) in self.spans.items():
            view = _decode(data, start, end, self.sizes[name], label)
            self.buffers[name] = bytes(view) if name in as_bytes else view


    def needs_bytes(self) -> set[str]:
        """The names Pillow will read: images' URIs, or every buffer when an image lies in a
        buffer view (trimesh hands Pillow that view, which must then be bytes)."""
        try:
            images = [i for i in json.loads(self.json).get("images", []) if isinstance(i, dict)]
        except (ValueError, AttributeError, TypeError):
            return set(self.spans)
        if any("bufferView" in image for image in images):
            return set(self.spans)
        return {image["uri"] for image in images if image.get("uri") in self.spans}


def payloads(data: mmap.mmap | bytes) -> list[tuple[int, int, int]]:
    """(string start, payload start, string end) of every inline base64 data: URI, found
    without reading the payloads (each search resumes after the one before)."""
    found, pos = [], 0
    while (match := _URI.search(data, pos)) is not None:
        start = match.end()
        end, escaped = _string_end(data, start)
        if end < 0:
            break  # unterminated: the JSON parse names the damage
        if not escaped:
            found.append((match.start(1), start, end))
        pos = end + 1
    return found


def _string_end(data: mmap.mmap | bytes, start: int) -> tuple[int, bool]:
    """Where the JSON string running from ``start`` ends (-1: never) and whether it holds
    an escape, scanned a chunk at a time with the pages behind handed back."""
    escaped = False
    for offset in range(start, len(data), _CHUNK):
        stop = min(offset + _CHUNK, len(data))
        end = data.find(b'"', offset, stop)
        escaped = escaped or data.find(b"\\", offset, stop if end < 0 else end) >= 0
        _release(data, offset, stop if end < 0 else end)
        if end >= 0:
            return end, escaped
    return -1, escaped


def without_payloads(data: mmap.mmap | bytes, spans: list[tuple[int, int, int]],
                     names: list[str] | None = None) -> bytes:
    """``data`` with each span's string replaced by its name (no names: ``""``)."""
    parts, pos = [], 0
    for i, (string, _start, end) in enumerate(spans):
        parts += [data[pos:string], (names[i] if names else "").encode()]
        pos = end
    parts.append(data[pos:])
    return b"".join(parts)


def split_embedded(data: mmap.mmap, label: str) -> Embedded:
    """The .gltf in ``data`` with its base64 payloads set aside, not yet decoded."""
    spans = payloads(data)
    names = [NAME.format(i) for i in range(len(spans))]
    embedded = Embedded(without_payloads(data, spans, names))
    for name, (_string, start, end) in zip(names, spans, strict=True):
        embedded.spans[name] = (start, end)
        embedded.sizes[name] = _decoded_size(data, start, end, label)
    return embedded


def _decoded_size(data: mmap.mmap, start: int, end: int, label: str) -> int:
    size = end - start
    if size % 4:
        raise _damaged(label)
    pad = 0
    if size and data[end - 1] == ord("="):
        pad = 2 if data[end - 2] == ord("=") else 1
    return size // 4 * 3 - pad


def _decode(data: mmap.mmap, start: int, end: int, size: int, label: str) -> memoryview:
    out = memoryview(bytearray(size))
    written = 0
    for offset in range(start, end, _CHUNK):
        stop = min(offset + _CHUNK, end)
        try:
            piece = base64.b64decode(data[offset:stop], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _damaged(label) from exc
        if written + len(piece) > len(out) or (len(piece) < (stop - offset) // 4 * 3
                                                and stop != end):
            raise _damaged(label)  # padding before the end
        out[written:written + len(piece)] = piece
        written += len(piece)
        _release(data, offset, stop)
    if written != len(out):
        raise _damaged(label)
    return out


def _release(data: mmap.mmap, start: int, stop: int) -> None:
    """Drop the file's pages already decoded from this process's memory (they are clean
    pages of a read-only mapping; reading them again would fetch them back)."""
    first, last = -(-start // _PAGE) * _PAGE, stop // _PAGE * _PAGE
    if last > first and isinstance(data, mmap.mmap):
        data.madvise(mmap.MADV_DONTNEED, first, last - first)


def _damaged(label: str) -> InvalidInput:
    return InvalidInput(f"{label} is damaged: its embedded data is not valid base64.")
