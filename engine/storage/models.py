"""The models the neural adapters use: which ones exist, where they live, whether they work.

A model lives in one of three places, looked up in this order:
1. the folder the artist set for it in Settings (``models.json`` in the data directory);
2. ``<data directory>/models/<id>``, where ``download`` puts it;
3. the Hugging Face cache (``huggingface_hub``), where other tools may already have put it.

Its state is ``installed`` (every file a loader needs is there and its weights are readable),
``missing`` (found nowhere) or ``broken`` (found, but a file is missing, truncated or unreadable).
Only safetensors weights count unless pickle weights are explicitly allowed: a pickle file can
run code when it is loaded. Nothing here imports torch; ``huggingface_hub`` is imported only
where the cache is read or a download starts.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from engine.errors import ErrorCode, MeshsmithError
from engine.storage.paths import DataDir

State = Literal["installed", "missing", "broken"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_NON_WEIGHT_CONFIGS = ("scheduler_config.json", "tokenizer_config.json",
                       "preprocessor_config.json", "tokenizer.json", "vocab.json")


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    hub_id: str
    licence: str
    approx_size_mb: int
    adapters: tuple[str, ...]
    layout: Literal["diffusers", "transformers"]
    extra_files: tuple[str, ...] = ()  # besides config and weights (transformers layout)


KNOWN_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("shap-e", "Shap-E", "openai/shap-e", "MIT", 2600,
              ("shap_e",), "diffusers"),
    ModelInfo("shap-e-img2img", "Shap-E image-to-3D", "openai/shap-e-img2img", "MIT", 3300,
              ("shap_e_img2img",), "diffusers"),
    ModelInfo("depth-anything-v2-small", "Depth Anything V2 Small",
              "depth-anything/Depth-Anything-V2-Small-hf", "Apache-2.0", 100,
              ("depth_relief",), "transformers", ("preprocessor_config.json",)),
)


@dataclass
class ModelStatus:
    info: ModelInfo
    state: State
    folder: Path | None = None
    source: Literal["settings", "data", "hf-cache", "folder"] | None = None
    size_bytes: int = 0
    problem: str | None = None  # why it is broken, a phrase

    def to_json(self) -> dict[str, Any]:
        return {"id": self.info.id, "name": self.info.name, "hub_id": self.info.hub_id,
                "licence": self.info.licence, "approx_size_mb": self.info.approx_size_mb,
                "adapters": list(self.info.adapters), "state": self.state,
                "folder": str(self.folder) if self.folder else None, "source": self.source,
                "size_bytes": self.size_bytes, "problem": self.problem}


class ModelStore:
    """Finds, checks and downloads models for one data directory (no Qt, no torch)."""

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

    def status(self, ref: str, *, allow_pickle: bool = False) -> ModelStatus:
        """Where the model is and whether it works; ``ref`` is an id, a hub id or a folder."""
        if is_folder_ref(ref):
            folder = Path(ref).expanduser().resolve()
            info = ModelInfo(folder.name, folder.name, "", "unknown", 0, (), _guess_layout(folder))
            return self._check(info, folder, "folder", allow_pickle)
        info = self.info(ref)
        chosen = self.folders().get(info.id)
        if chosen is not None:
            return self._check(info, Path(chosen), "settings", allow_pickle)
        local = self.models_dir / info.id
        if local.exists():
            return self._check(info, local, "data", allow_pickle)
        cached = self._hf_snapshot(info)
        if cached is not None:
            return self._check(info, cached, "hf-cache", allow_pickle)
        return ModelStatus(info, "missing")

    def locate(self, ref: str, *, allow_pickle: bool = False) -> Path:
        """The folder of a working model, or MeshsmithError with how to get it (one sentence)."""
        status = self.status(ref, allow_pickle=allow_pickle)
        if status.state == "installed" and status.folder is not None:
            return status.folder
        raise MeshsmithError(ErrorCode.ADAPTER_FAILED, how_to_get(status))

    # ---- Settings: a folder per model -------------------------------------------------------
    def folders(self) -> dict[str, str]:
        try:
            data = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            return {}  # no settings yet, or a file we cannot read: look in the usual places
        folders = data.get("folders", {}) if isinstance(data, dict) else {}
        return {k: v for k, v in folders.items() if isinstance(v, str)}

    def set_folder(self, model_id: str, folder: Path | None) -> None:
        """Use ``folder`` for the model from now on (None: back to the usual places)."""
        info = self.info(model_id)
        folders = self.folders()
        if folder is None:
            folders.pop(info.id, None)
        else:
            folders[info.id] = str(Path(folder).expanduser().resolve())
        self.data.root.mkdir(parents=True, exist_ok=True)
        tmp = self.settings_file.with_suffix(".json.partial")
        tmp.write_text(json.dumps({"folders": folders}, indent=2))
        os.replace(tmp, self.settings_file)

    # ---- download ---------------------------------------------------------------------------
    def download(self, ref: str, *, allow_pickle: bool = False,
                 tqdm_class: Any | None = None) -> ModelStatus:
        """Fetch the model from the Hugging Face hub into ``models/<id>``; ``tqdm_class``
        receives the progress. Raises MeshsmithError (one sentence) when it cannot."""
        from huggingface_hub import snapshot_download  # imported only when a download starts

        info = self.info(ref)
        target = self.models_dir / info.id
        existed = target.exists()
        # Pickle weights can run code when loaded: leave them on the hub unless allowed.
        ignore = None if allow_pickle else [f"*{s}" for s in _PICKLE_SUFFIXES] + [
            "*.msgpack", "*.h5", "*.onnx", "*.ot"]
        try:
            snapshot_download(info.hub_id, local_dir=target, ignore_patterns=ignore,
                              tqdm_class=tqdm_class)
        except Exception as exc:  # the hub's errors are many; the artist needs one sentence
            if not existed:
                shutil.rmtree(target, ignore_errors=True)  # nothing half-made looks "broken"
            raise MeshsmithError(ErrorCode.ADAPTER_FAILED, _download_failure(info, exc)) from None
        return self.status(info.id, allow_pickle=allow_pickle)

    # ---- internals --------------------------------------------------------------------------
    def _check(self, info: ModelInfo, folder: Path, source: Any, allow_pickle: bool
               ) -> ModelStatus:
        if not folder.is_dir():
            return ModelStatus(info, "broken", folder, source,
                               problem=f"the folder {folder} does not exist")
        if info not in self.known:  # a hub id we know nothing of: its files say what it is
            info = replace(info, layout=_guess_layout(folder))
        problem = verify_folder(folder, info, allow_pickle=allow_pickle)
        return ModelStatus(info, "broken" if problem else "installed", folder, source,
                           folder_size(folder), problem)

    def _hf_snapshot(self, info: ModelInfo) -> Path | None:
        from huggingface_hub import try_to_load_from_cache

        markers = ["model_index.json", "config.json"]
        if info.layout != "diffusers":
            markers.reverse()
        for marker in markers if info not in self.known else markers[:1]:
            try:
                found = try_to_load_from_cache(info.hub_id, marker, cache_dir=self.hf_cache)
            except Exception:  # a damaged cache reads as "not there", never as a crash
                return None
            if isinstance(found, str):
                return Path(found).parent
        return None


def is_folder_ref(ref: str) -> bool:
    """A path, not a model id or hub id: absolute, ~ or ./-relative, or an existing folder."""
    return ref.startswith(("/", "~", ".", "\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", ref)) \
        or (not _HUB_ID.match(ref) and Path(ref).is_dir())


def how_to_get(status: ModelStatus) -> str:
    """The one sentence a job whose model is unusable fails with."""
    info = status.info
    if not info.hub_id:  # a folder the artist named
        return (f"The model folder {status.folder} cannot be used: {status.problem}.")
    get = (f"run `python main.py models download {info.hub_id}` on a machine with internet, "
           "or set its folder in Settings")
    if status.state == "missing":
        return f"The {info.name} model is not installed; {get}."
    return f"The {info.name} model in {status.folder} is broken ({status.problem}); {get}."


def verify_folder(folder: Path, info: ModelInfo, *, allow_pickle: bool = False) -> str | None:
    """Why the model in ``folder`` cannot be loaded (a phrase), or None when it can."""
    try:
        if info.layout == "diffusers":
            return _verify_diffusers(folder, allow_pickle)
        if not (folder / "config.json").is_file():
            return "config.json is missing"
        for name in info.extra_files:
            if not (folder / name).is_file():
                return f"{name} is missing"
        return _verify_weights(folder, allow_pickle)
    except OSError as exc:
        return f"a file cannot be read ({exc.strerror or exc})"


def _verify_diffusers(folder: Path, allow_pickle: bool) -> str | None:
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        return "model_index.json is missing"
    try:
        index = json.loads(index_path.read_text())
    except ValueError:
        return "model_index.json is not valid JSON"
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue  # settings, and optional components the pipeline goes without
        part = folder / name
        if not part.is_dir():
            return f"the {name} folder is missing"
        if (part / "config.json").is_file() and not any(
                (part / c).is_file() for c in _NON_WEIGHT_CONFIGS):
            problem = _verify_weights(part, allow_pickle)
            if problem:
                return f"{name}: {problem}"
        elif not any(part.glob("*.json")) and not any(part.glob("*.txt")):
            return f"the {name} folder has no configuration"
    return None


def _verify_weights(folder: Path, allow_pickle: bool) -> str | None:
    shards: list[Path] = []
    for index in folder.glob("*.safetensors.index.json"):
        weight_map = json.loads(index.read_text()).get("weight_map", {})
        shards += [folder / name for name in sorted(set(weight_map.values()))]
    shards = shards or sorted(folder.glob("*.safetensors"))
    for shard in shards:
        if not shard.is_file():
            return f"the weights file {shard.name} is missing"
        if not safetensors_readable(shard):
            return f"the weights file {shard.name} is truncated or unreadable"
    if shards:
        return None
    if any(any(folder.glob(f"*{suffix}")) for suffix in _PICKLE_SUFFIXES):
        return None if allow_pickle else (
            "it has only pickle weights (.bin), which Meshsmith loads only when allowed")
    return "the weights are missing"


def safetensors_readable(path: Path) -> bool:
    """The header parses and the file is as long as the header says: catches cut downloads.
    (Pure Python: the format is 8 bytes of header length, a JSON header, then the data.)"""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return False
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, 100 * 2**20):
            return False
        try:
            header = json.loads(handle.read(length))
        except ValueError:
            return False
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    return size >= 8 + length + max(ends, default=0)


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


def _guess_layout(folder: Path) -> Literal["diffusers", "transformers"]:
    return "diffusers" if (folder / "model_index.json").is_file() else "transformers"


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
    return (f"Could not download {info.hub_id}: {why}; try again with internet, or copy the "
            "model folder from another machine and set it in Settings.")


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
