"""The files a model names beside itself (glTF buffers and images, OBJ materials and
textures), found the way other tools find them and never outside the model's own folder.

glTF URIs are strict, as the specification is: relative, percent-encoded, inside the folder;
an absolute path, a ``file:`` or web URI, or one climbing out of the folder is refused with
one sentence. OBJ/MTL names are forgiving, as Blender is: quotes and ``map_Kd`` options are
stripped, Windows backslashes become folders, letter case is ignored (the file was made on a
system that ignores it), and when the path does not match, the bare file name and the name
with underscores as spaces are tried, always inside the OBJ's folder.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from trimesh.resolvers import Resolver

from engine.errors import InvalidInput

if TYPE_CHECKING:
    from engine.meshio.embedded import Embedded

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tga", ".tif", ".tiff", ".gif")
# MTL texture options and how many values each may take (Blender skips them the same way)
_MTL_OPTIONS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1,
                "-imfchan": 1, "-mm": 2, "-o": 3, "-s": 3, "-t": 3, "-texres": 1, "-type": 1}


def printable(text: str, limit: int = 60) -> str:
    """A name as it may appear in a one-line sentence."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class SideFiles(Resolver):
    """A trimesh resolver confined to one folder: records what it read and what was missing.

    ``mode`` is "gltf" (strict URIs) or "obj" (Blender's forgiving names)."""

    def __init__(self, folder: Path, label: str, mode: str) -> None:
        self.folder = folder.resolve()
        self.label, self.mode = label, mode
        self.used: dict[Path, None] = {}  # ordered set of files read
        self.missing: dict[str, None] = {}  # names asked for and not found, as written
        self.embedded: Embedded | None = None  # a .gltf's data: URIs, decoded aside

    @property
    def embedded_bytes(self) -> int:
        return self.embedded.decoded_bytes if self.embedded is not None else 0

    # trimesh's resolver interface -----------------------------------------------------

    def get(self, name: str) -> bytes | memoryview:
        if self.embedded is not None and name in self.embedded.buffers:
            return self.embedded.buffers[name]
        path = self.find(name)
        if path is None:
            self.missing[self.shown(name)] = None
            raise FileNotFoundError(name)
        self.used[path] = None
        return path.read_bytes()

    def __getitem__(self, name: str) -> bytes | memoryview:
        return self.get(name)

    def write(self, name: str, data: Any) -> None:
        raise PermissionError(name)

    def namespaced(self, namespace: str) -> SideFiles:
        return self

    def keys(self) -> list[str]:
        return []

    # finding ----------------------------------------------------------------------------

    def find(self, name: str) -> Path | None:
        """The file ``name`` means, inside the folder; None when there is none. A glTF URI
        that may not be followed raises InvalidInput."""
        if self.mode == "gltf":
            return _existing(self.folder / self.relative_uri(name), self.folder)
        return self._find_obj(name)

    def relative_uri(self, uri: str) -> PurePosixPath:
        """A glTF URI as a path inside the folder, or InvalidInput saying why it is refused."""
        if not isinstance(uri, str):
            raise InvalidInput(f"{self.label} is damaged: a file reference is not text.")
        text = unquote(uri)
        if _SCHEME.match(text) or text.startswith(("/", "\\")):
            raise InvalidInput(
                f"{self.label} refers to {printable(text)}, which is not a file beside it; "
                "Meshsmith reads only files in the model's own folder.")
        parts = PurePosixPath(text.replace("\\", "/")).parts
        if ".." in parts or not parts:
            raise InvalidInput(
                f"{self.label} refers to {printable(text)}, outside its own folder; "
                "Meshsmith reads only files in the model's own folder.")
        return PurePosixPath(*parts)

    def buffer_length(self, uri: str) -> int:
        """Bytes in the external buffer ``uri``: for the structural checks before loading."""
        if self.embedded is not None and uri in self.embedded.sizes:
            return self.embedded.sizes[uri]
        path = self.find(uri)
        if path is None:
            raise InvalidInput(
                f"{self.label} needs {printable(unquote(uri))} beside it, which is not there; "
                "copy it next to the model or export one GLB file.")
        return path.stat().st_size

    def shown(self, name: str) -> str:
        return printable(_mtl_path(name) if self.mode == "obj" else unquote(name))

    def _find_obj(self, name: str) -> Path | None:
        written = _mtl_path(name)
        if not written:
            return None
        clean = written.replace("\\", "/")
        absolute = clean.startswith("/") or bool(re.match(r"^[A-Za-z]:/", clean))
        parts = [p for p in clean.split("/") if p not in ("", ".")]
        base = parts[-1] if parts else ""
        candidates = [] if absolute or ".." in parts else [parts]
        candidates += [[base], *([[base.replace("_", " ")]] if "_" in base else [])]
        if not absolute and ".." not in parts and "_" in clean:
            candidates.insert(1, [p.replace("_", " ") for p in parts])
        for candidate in candidates:
            found = _case_insensitive(self.folder, candidate)
            if found is not None:
                return found
        return None


def _mtl_path(value: str) -> str:
    """The file name in a ``map_Kd``/``mtllib`` value: options and quotes stripped, the rest
    of the line kept whole (names may hold spaces)."""
    tokens = list(re.finditer(r"\S+", value))
    while tokens and tokens[0].group().lower() in _MTL_OPTIONS:
        most = _MTL_OPTIONS[tokens.pop(0).group().lower()]
        taken = 0
        while tokens and taken < most and (_is_number(tokens[0].group()) or most == 1):
            tokens.pop(0)
            taken += 1
    if not tokens:
        return ""
    return value[tokens[0].start():].strip().strip('"').strip()


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _case_insensitive(folder: Path, parts: list[str]) -> Path | None:
    """``folder/parts...`` matching each name exactly first, else ignoring letter case."""
    current = folder
    for part in parts:
        exact = current / part
        if exact.exists():
            current = exact
            continue
        try:
            matches = [c for c in current.iterdir() if c.name.lower() == part.lower()]
        except OSError:
            return None
        if not matches:
            return None
        current = sorted(matches)[0]
    return _existing(current, folder)


def _existing(path: Path, folder: Path) -> Path | None:
    """``path`` when it is a regular file whose real location is inside ``folder``."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(folder) or not real.is_file():
        return None
    return real


def is_image_name(name: str) -> bool:
    return name.lower().endswith(_IMAGE_SUFFIXES)
