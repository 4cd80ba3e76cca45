"""Whether a model folder can be loaded: every part its loader reads is there and readable.

A diffusers pipeline is checked component by component, each one its ``model_index.json``
names (an index that names none is no pipeline); a transformers model by its config, extra
files and weights; a hy3dgen model (Hunyuan3D) by each checkpoint subfolder's ``config.yaml``
and ``model.fp16.safetensors``, whose header must hold the DiT, the VAE and the image
encoder. safetensors files are checked by their header and length (a cut download fails);
weights that exist only as pickles need the artist's permission (``needs_consent``). Nothing
here imports torch.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.storage.model_catalog import Layout, ModelInfo

State = Literal["installed", "missing", "broken", "needs_consent"]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_NON_WEIGHT_CONFIGS = ("scheduler_config.json", "tokenizer_config.json",
                       "preprocessor_config.json", "tokenizer.json", "vocab.json")
_HY3DGEN_SECTIONS = ("model", "vae", "conditioner", "scheduler", "image_processor")
_HY3DGEN_PARTS = ("model", "vae", "conditioner")


@dataclass(frozen=True)
class Verdict:
    state: State
    problem: str | None = None  # why it is broken or needs consent, a phrase


class _Pickled(Exception):
    """A part the loader needs exists only as a pickle, and pickles were not allowed."""


def check_folder(folder: Path, info: ModelInfo, *, allow_pickle: bool = False) -> Verdict:
    """Whether the model in ``folder`` can be loaded as ``info`` describes."""
    try:
        problem = _problem(folder, info, allow_pickle)
    except _Pickled as pickled:
        return Verdict("needs_consent", str(pickled))
    except OSError as exc:
        problem = f"a file cannot be read ({exc.strerror or exc})"
    return Verdict("broken", problem) if problem else Verdict("installed")


def _problem(folder: Path, info: ModelInfo, allow_pickle: bool) -> str | None:
    if info.layout == "diffusers":
        return _verify_diffusers(folder, info, allow_pickle)
    if info.layout == "hy3dgen":
        return _verify_hy3dgen(folder, info.subfolders or hy3dgen_subfolders(folder))
    if not (folder / "config.json").is_file():
        return "config.json is missing"
    for name in info.files:
        if not name.endswith((".safetensors", *PICKLE_SUFFIXES)) and not (folder / name).is_file():
            return f"{name} is missing"
    return _verify_weights(folder, "", allow_pickle)


def _verify_diffusers(folder: Path, info: ModelInfo, allow_pickle: bool) -> str | None:
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        return "model_index.json is missing"
    try:
        index = json.loads(index_path.read_text())
    except ValueError:
        return "model_index.json is not valid JSON"
    if not isinstance(index, dict):
        return "model_index.json is not a pipeline index"
    named = {name for name, value in index.items() if not name.startswith("_")
             and isinstance(value, list) and value and value[0] is not None}
    if not named:
        return "model_index.json names no components"
    for name in info.components:
        if name not in named:
            return f"model_index.json does not name its {name}"
    for name in sorted(named):
        problem = _verify_component(folder / name, name, allow_pickle)
        if problem:
            return problem
    return None


def _verify_component(part: Path, name: str, allow_pickle: bool) -> str | None:
    if not part.is_dir():
        return f"the {name} folder is missing"
    if (part / "config.json").is_file() and not any(
            (part / c).is_file() for c in _NON_WEIGHT_CONFIGS):
        problem = _verify_weights(part, f"{name} ", allow_pickle)
        return f"{name}: {problem}" if problem else None
    if not any(part.glob("*.json")) and not any(part.glob("*.txt")):
        return f"the {name} folder has no configuration"
    return None


def _verify_weights(folder: Path, label: str, allow_pickle: bool) -> str | None:
    shards: list[Path] = []
    for index in folder.glob("*.safetensors.index*.json"):
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
    pickles = sorted(p.name for s in PICKLE_SUFFIXES for p in folder.glob(f"*{s}"))
    if not pickles:
        return "the weights are missing"
    if allow_pickle:
        return None
    raise _Pickled(f"{label}weights are a pickle file ({pickles[0]}), which can run code when "
                   "it is loaded")


def _verify_hy3dgen(folder: Path, subfolders: tuple[str, ...]) -> str | None:
    if not subfolders:
        return "it has no checkpoint folder with a config.yaml"
    for position, sub in enumerate(subfolders):
        part = folder / sub
        if not part.is_dir():
            return f"the {sub} folder is missing"
        config = read_yaml(part / "config.yaml")
        if config is None:
            return f"{sub}/config.yaml is missing or not valid YAML"
        weights = hy3dgen_weights(part)
        if weights is None:
            ckpt = any(part.glob("*.ckpt"))
            return (f"{sub} has only a .ckpt pickle, which Meshsmith does not load" if ckpt
                    else f"{sub}/model.fp16.safetensors is missing")
        keys = safetensors_keys(weights)
        if keys is None:
            return f"the weights file {sub}/{weights.name} is truncated or unreadable"
        if position == 0:
            problem = _dit_problem(sub, config, keys)
            if problem:
                return problem
    return None


def _dit_problem(sub: str, config: dict[str, Any], keys: set[str]) -> str | None:
    missing = [s for s in _HY3DGEN_SECTIONS if not isinstance(config.get(s), dict)]
    if missing:
        return f"{sub}/config.yaml has no {missing[0]} section"
    held = {key.split(".", 1)[0] for key in keys}
    absent = [part for part in _HY3DGEN_PARTS if part not in held]
    if absent:
        return f"{sub}'s weights hold no {absent[0]} (a DiT checkpoint holds model, vae and " \
               "conditioner)"
    return None


def hy3dgen_weights(part: Path) -> Path | None:
    """The safetensors checkpoint of one hy3dgen subfolder: the fp16 variant first."""
    for name in ("model.fp16.safetensors", "model.safetensors"):
        if (part / name).is_file():
            return part / name
    return None


def hy3dgen_subfolders(folder: Path) -> tuple[str, ...]:
    """A hy3dgen model folder's checkpoint subfolders, the DiT's (the one whose config has a
    ``model`` section) first."""
    found = sorted(p.parent.name for p in folder.glob("*/config.yaml"))
    dits = [s for s in found if isinstance((read_yaml(folder / s / "config.yaml") or {})
                                           .get("model"), dict)]
    return tuple(dits[:1] + [s for s in found if s not in dits[:1]])


def read_yaml(path: Path) -> dict[str, Any] | None:
    import yaml  # pyyaml comes with huggingface_hub

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def guess_layout(folder: Path) -> Layout:
    if (folder / "model_index.json").is_file():
        return "diffusers"
    if not (folder / "config.json").is_file() and any(folder.glob("*/config.yaml")):
        return "hy3dgen"
    return "transformers"


def weights_variant(folder: Path, info: ModelInfo) -> str | None:
    """The variant a loader should ask for: the catalog's, when the folder has such files."""
    if info.variant is None:
        return None
    pattern = f"*.{info.variant}.safetensors"
    return info.variant if any(folder.glob(pattern)) or any(folder.glob(f"*/{pattern}")) \
        else None


def safetensors_keys(path: Path) -> set[str] | None:
    """The tensor names in a safetensors file whose header parses and whose length matches
    it (a cut download does not); None otherwise. Pure Python: 8 bytes of header length, a
    JSON header, then the data."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return None
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, 100 * 2**20):
            return None
        try:
            header = json.loads(handle.read(length))
        except ValueError:
            return None
    if not isinstance(header, dict):
        return None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return set(tensors) if size >= 8 + length + end else None


def safetensors_readable(path: Path) -> bool:
    return safetensors_keys(path) is not None
