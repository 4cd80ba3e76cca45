"""Safe file stems for staged inputs and uploads, whatever name the artist's file had."""

from __future__ import annotations

import re
import unicodedata

_MAX_STEM_CHARS = 80
_MAX_STEM_BYTES = 200  # file systems cap names at 255 bytes; leave room for the extension
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *{f"com{i}" for i in range(10)}}
_WINDOWS_RESERVED |= {f"lpt{i}" for i in range(10)}


def sanitize_stem(name: str) -> str:
    """A safe file stem from whatever name the artist's file had: no folders, no traversal,
    no control characters, Unicode letters kept, at most ~80 characters; "input" if nothing
    is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, _ = base.rpartition(".")
    stem = unicodedata.normalize("NFC", stem if dot and stem else base)
    kept = "".join(ch if _allowed(ch) else "_" for ch in stem)
    kept = re.sub(r"[_\s]+", lambda m: "_" if "_" in m.group() else " ", kept)
    kept = kept.strip(" ._-")
    kept = kept[:_MAX_STEM_CHARS]
    while len(kept.encode("utf-8")) > _MAX_STEM_BYTES:
        kept = kept[:-1]
    kept = kept.rstrip(" ._-")
    if kept.lower() in _WINDOWS_RESERVED:
        kept += "_"
    return kept or "input"


def _allowed(ch: str) -> bool:
    # letters, digits and combining marks of every script, plus a few harmless marks
    return ch in " -_.()+" or unicodedata.category(ch)[0] in "LNM"
