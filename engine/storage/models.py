"""The models the neural adapters use: where they live, whether they work, getting them.

A model lives in one of three places, looked up in this order:
1. the folder the artist imported for it (``models.json`` in the data directory);
2. ``<data directory>/models/<id>``, where ``download`` puts it;
3. the Hugging Face cache (``huggingface_hub``), where other tools may already have put it.

Its state is ``installed`` (every file its loader reads is there and readable), ``missing``
(found nowhere), ``broken`` (a file is missing, truncated or unreadable) or ``needs_consent``
(a part exists only as a pickle, which can run code when loaded, and the artist has not
allowed that for this model yet). Consent is asked once per model, in the studio or the CLI,
and remembered in ``models.json``; it is never a job parameter. Nothing here imports torch;
``huggingface_hub`` is imported only where the cache is read or a download starts.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from engine.errors import ErrorCode, MeshsmithError
from engine.storage.model_catalog import KNOWN_MODELS, ModelInfo
from engine.storage.model_check import (
    PICKLE_SUFFIXES,
    State,
    check_folder,
    guess_layout,
    hy3dgen_subfolders,
    safetensors_readable,
)
from engine.storage.paths import DataDir

__all__ = ["KNOWN_MODELS", "ConsentNeeded", "ModelInfo", "ModelStatus", "ModelStore", "State",
           "folder_size", "how_to_get", "human_size", "progress_tqdm", "safetensors_readable"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
Source = Literal["settings", "data", "hf-cache", "folder"]


@dataclass
class ModelStatus:
    info: ModelInfo
    state: State
    folder: Path | None = None
    source: Source | None = None
    size_bytes: int = 0
    problem: str | None = None  # why it is broken or needs consent, a phrase

    @property
    def consent_key(self) -> str:
        """What the pickle consent is remembered under: the model id, or a folder's path."""
        return self.info.id if self.info.hub_id or self.folder is None else str(self.folder)

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {"id": info.id, "name": info.name, "hub_id": info.hub_id,
                "licence": info.licence, "licence_terms": info.licence_terms or None,
                "approx_size_mb": info.approx_size_mb, "adapters": list(info.adapters),
                "state": self.state, "folder": str(self.folder) if self.folder else None,
                "source": self.source, "size_bytes": self.size_bytes, "problem": self.problem,
                "files": list(info.files)}


class ConsentNeeded(MeshsmithError):
    """The model has a part that exists only as a pickle and the artist has not allowed it."""

    def __init__(self, info: ModelInfo, what: str) -> None:
        super().__init__(ErrorCode.INVALID_INPUT, (
            f"{info.name}: {what}; Meshsmith loads it only once you allow it for this model "
            f"(the Models page asks, or add --allow-pickle)."))
        self.info = info


class ModelStore:
    """Finds, checks, downloads and imports models for one data directory (no Qt, no torch)."""

    def __init__(self, data: DataDir | None = None, *, hf_cache: Path | None = None,
                 known: tuple[ModelInfo, ...] = KNOWN_MODELS) -> None:
        self.data = data or DataDir.default()
        self.hf_cache = hf_cache  # None: huggingface_hub's own default (HF_HOME, HF_HUB_CACHE)
        self.known = known

    @property
    def models_dir(self) -> Path:
        return self.data.root / "models"

    @property
    def settings_file(self) -> Path:
        return self.data.root / "models.json"

    # ---- what exists ------------------------------------------------------------------------
    def info(self, ref: str) -> ModelInfo:
        """The model a known id or hub id names; an unknown hub id gets a minimal entry."""
        for info in self.known:
            if ref in (info.id, info.hub_id):
                return info
        if _HUB_ID.match(ref):
            return ModelInfo(ref.replace("/", "--"), ref, ref, "unknown", 0, (), "transformers")
        known = ", ".join(i.id for i in self.known)
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"There is no model {ref!r}; known models: {known}.")

    def list(self) -> list[ModelStatus]:
        return [self.status(info.id) for info in self.known]

    def status(self, ref: str) -> ModelStatus:
        """Where the model is and whether it works; ``ref`` is an id, a hub id or a folder."""
        if is_folder_ref(ref):
            folder = Path(ref).expanduser().resolve()
            return self._check(folder_info(folder), folder, "folder")
        info = self.info(ref)
        chosen = self.folders().get(info.id)
        if chosen is not None:
            return self._check(info, Path(chosen), "settings")
        local = self.models_dir / info.id
        if local.exists():
            return self._check(info, local, "data")
        cached = self._hf_snapshot(info)
        if cached is not None:
            return self._check(info, cached, "hf-cache")
        return ModelStatus(info, "missing")

    def locate(self, ref: str) -> ModelStatus:
        """The status of a working model, or MeshsmithError with how to get it (one sentence)."""
        status = self.status(ref)
        if status.state == "installed" and status.folder is not None:
            return status
        raise MeshsmithError(ErrorCode.ADAPTER_FAILED, how_to_get(status))

    # ---- the artist's choices: a folder per model, pickle consent -----------------------------
    def folders(self) -> dict[str, str]:
        folders = self._settings().get("folders", {})
        return {k: v for k, v in folders.items() if isinstance(v, str)} \
            if isinstance(folders, dict) else {}

    def set_folder(self, model_id: str, folder: Path | None) -> None:
        """Use ``folder`` for the model from now on (None: back to the usual places)."""
        info = self.info(model_id)
        folders = self.folders()
        if folder is None:
            folders.pop(info.id, None)
        else:
            folders[info.id] = str(Path(folder).expanduser().resolve())
        self._save_settings(folders=folders)

    def pickle_allowed(self, key: str) -> bool:
        allowed = self._settings().get("pickle_allowed", [])
        return isinstance(allowed, list) and key in allowed

    def allow_pickle(self, ref: str, allowed: bool = True) -> None:
        """Remember that the artist allows (or no longer allows) this model's pickle parts."""
        key = self._consent_key(ref)
        keys = [k for k in self._settings().get("pickle_allowed", []) if isinstance(k, str)]
        keys = sorted({*keys, key} if allowed else set(keys) - {key})
        self._save_settings(pickle_allowed=keys)

    # ---- getting a model --------------------------------------------------------------------
    def download(self, ref: str, *, allow_pickle: bool = False,
                 tqdm_class: Any | None = None) -> ModelStatus:
        """Fetch exactly the model's files from the hub into ``models/<id>``, in the
        repository's layout; ``tqdm_class`` receives the progress. Raises ConsentNeeded when a
        part exists only as a pickle and it was not allowed, MeshsmithError (one sentence)
        when the download fails."""
        from huggingface_hub import snapshot_download  # imported only when a download starts

        info = self.info(ref)
        if allow_pickle:
            self.allow_pickle(info.id)
        consent = self.pickle_allowed(info.id)
        if info.pickle_files and not consent:
            names = ", ".join(info.pickle_files)
            raise ConsentNeeded(info, f"a part exists only as a pickle ({names}), which can "
                                      "run code when it is loaded")
        allow, ignore = _patterns(info, consent)
        target = self.models_dir / info.id
        existed = target.exists()
        try:
            snapshot_download(info.hub_id, local_dir=target, allow_patterns=allow,
                              ignore_patterns=ignore, tqdm_class=tqdm_class)
        except Exception as exc:  # the hub's errors are many; the artist needs one sentence
            if not existed:
                shutil.rmtree(target, ignore_errors=True)  # nothing half-made looks "broken"
            raise MeshsmithError(ErrorCode.ADAPTER_FAILED, _download_failure(info, exc)) from None
        return self.status(info.id)

    def import_folder(self, ref: str, folder: Path, *, allow_pickle: bool = False
                      ) -> ModelStatus:
        """Register a snapshot downloaded elsewhere (a plain folder or a Hugging Face cache
        entry) for the model, after checking it; nothing is registered when it cannot work."""
        info = self.info(ref)
        source = snapshot_root(Path(folder).expanduser().resolve())
        if allow_pickle:
            self.allow_pickle(info.id)
        status = self._check(info, source, "settings")
        if status.state == "needs_consent":
            raise ConsentNeeded(info, status.problem or "a part is a pickle")
        if status.state != "installed":
            raise MeshsmithError(ErrorCode.INVALID_INPUT, (
                f"{source} cannot be imported as {info.name}: {status.problem}."))
        self.set_folder(info.id, source)
        return status

    # ---- internals --------------------------------------------------------------------------
    def _check(self, info: ModelInfo, folder: Path, source: Source) -> ModelStatus:
        if not folder.is_dir():
            return ModelStatus(info, "broken", folder, source,
                               problem=f"the folder {folder} does not exist")
        if info not in self.known and info.hub_id:  # a hub id we know nothing of
            info = replace(folder_info(folder), id=info.id, name=info.name, hub_id=info.hub_id)
        status = ModelStatus(info, "missing", folder, source)
        verdict = check_folder(folder, info,
                               allow_pickle=self.pickle_allowed(status.consent_key))
        status.state, status.problem = verdict.state, verdict.problem
        status.size_bytes = folder_size(folder)
        return status

    def _consent_key(self, ref: str) -> str:
        if is_folder_ref(ref):
            return str(Path(ref).expanduser().resolve())
        return self.info(ref).id

    def _settings(self) -> dict[str, Any]:
        try:
            data = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            return {}  # no settings yet, or a file we cannot read: look in the usual places
        return data if isinstance(data, dict) else {}

    def _save_settings(self, **changes: Any) -> None:
        data = {"folders": self.folders(),
                "pickle_allowed": self._settings().get("pickle_allowed", []), **changes}
        self.data.root.mkdir(parents=True, exist_ok=True)
        tmp = self.settings_file.with_suffix(".json.partial")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.settings_file)

    def _hf_snapshot(self, info: ModelInfo) -> Path | None:
        from huggingface_hub import try_to_load_from_cache

        markers = [info.marker] if info in self.known else ["model_index.json", "config.json"]
        for marker in markers:
            try:
                found = try_to_load_from_cache(info.hub_id, marker, cache_dir=self.hf_cache)
            except Exception:  # a damaged cache reads as "not there", never as a crash
                return None
            if isinstance(found, str):
                return Path(found).parents[marker.count("/")]
        return None


def folder_info(folder: Path) -> ModelInfo:
    """What a folder the artist named holds, judged by its files (no catalog entry)."""
    layout = guess_layout(folder)
    fp16 = any(folder.glob("*.fp16.safetensors")) or any(folder.glob("*/*.fp16.safetensors"))
    subfolders = hy3dgen_subfolders(folder) if layout == "hy3dgen" else ()
    return ModelInfo(folder.name, folder.name, "", "unknown", 0, (), layout,
                     variant="fp16" if fp16 else None, subfolders=subfolders)


def snapshot_root(folder: Path) -> Path:
    """A Hugging Face cache entry (``models--org--name``) stands for its current snapshot."""
    ref = folder / "refs" / "main"
    if (folder / "snapshots").is_dir() and ref.is_file():
        snapshot = folder / "snapshots" / ref.read_text().strip()
        if snapshot.is_dir():
            return snapshot
    return folder


def _patterns(info: ModelInfo, consent: bool) -> tuple[list[str] | None, list[str] | None]:
    """allow_patterns and ignore_patterns for the download."""
    if info.files:
        return [f for f in info.files if consent or f not in info.pickle_files], None
    # A hub id we know nothing of: its whole repository, pickles only when allowed.
    return None, None if consent else [f"*{s}" for s in PICKLE_SUFFIXES] + [
        "*.msgpack", "*.h5", "*.onnx", "*.ot"]


def is_folder_ref(ref: str) -> bool:
    """A path, not a model id or hub id: absolute, ~ or ./-relative, or an existing folder."""
    return ref.startswith(("/", "~", ".", "\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", ref)) \
        or (not _HUB_ID.match(ref) and Path(ref).is_dir())


def how_to_get(status: ModelStatus) -> str:
    """The one sentence a job whose model is unusable fails with."""
    info = status.info
    if status.state == "needs_consent":
        allow = (f"`python main.py models allow {info.id}`" if info.hub_id
                 else f"`python main.py models allow {status.folder}`")
        return (f"The {info.name} model's {status.problem}; allow it once on the Models page "
                f"or with {allow}.")
    if not info.hub_id:  # a folder the artist named
        return f"The model folder {status.folder} cannot be used: {status.problem}."
    get = (f"run `python main.py models download {info.id}` on a machine with internet, "
           "or import its folder on the Models page")
    if status.state == "missing":
        return f"The {info.name} model is not installed; {get}."
    return f"The {info.name} model in {status.folder} is broken ({status.problem}); {get}."


def folder_size(folder: Path) -> int:
    """Bytes on disk, symlinks followed (the HF cache links into blobs), each file once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:
                continue  # a dangling link counts as nothing
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _download_failure(info: ModelInfo, exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if any(w in text for w in ("ConnectError", "Connection", "resolve", "offline", "OFFLINE",
                               "LocalEntryNotFound", "internet")):
        why = "the model hub cannot be reached from this machine"
    elif any(w in text for w in ("RepositoryNotFound", "401", "403", "GatedRepo")):
        why = "the hub refused access to it (it may need a login or not exist)"
    elif isinstance(exc, OSError) and exc.errno is not None:
        why = f"the files could not be written ({exc.strerror})"
    else:
        why = text.splitlines()[0][:160].rstrip(".")
    return (f"Could not download {info.hub_id}: {why}; try again with internet, or download "
            "it on another machine and import its folder.")


ProgressCallback = Callable[[str, float], None]


def progress_tqdm(report: ProgressCallback) -> type:
    """A tqdm class that forwards each bar's fraction to ``report(description, fraction)``,
    so a download's progress reaches a GUI without parsing a terminal."""
    from tqdm.auto import tqdm

    class _Reporting(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)  # huggingface_hub names its own bars
            kwargs["file"] = io.StringIO()  # drawn nowhere: the GUI shows the fractions
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            if self.total:
                report(str(self.desc or "downloading"), min(1.0, self.n / self.total))
            return shown

    return _Reporting
