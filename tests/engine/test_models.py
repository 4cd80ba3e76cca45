"""The model registry: where models are found, when they count as installed, missing or
broken, the sentence a job gets, and download (no hub here: offline, or a stand-in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.errors import MeshsmithError
from engine.storage.models import ModelStore, human_size, safetensors_readable
from engine.storage.paths import DataDir
from tests.conftest import ROOT

DEPTH_HUB = "depth-anything/Depth-Anything-V2-Small-hf"


def weights(path: Path) -> Path:
    from safetensors.numpy import save_file  # numpy flavour: no torch in this test

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.arange(64, dtype=np.float32).reshape(8, 8)}, str(path))
    return path


def transformers_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "depth_anything"}')
    (folder / "preprocessor_config.json").write_text("{}")
    weights(folder / "model.safetensors")
    return folder


def diffusers_model(folder: Path) -> Path:
    index = {"_class_name": "ShapEPipeline", "prior": ["diffusers", "PriorTransformer"],
             "scheduler": ["diffusers", "HeunDiscreteScheduler"],
             "tokenizer": ["transformers", "CLIPTokenizer"],
             "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
             "shap_e_renderer": ["shap_e", "ShapERenderer"], "safety_checker": [None, None]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(index))
    for part, name in (("prior", "diffusion_pytorch_model"), ("text_encoder", "model"),
                       ("shap_e_renderer", "diffusion_pytorch_model")):
        weights(folder / part / f"{name}.safetensors")
        (folder / part / "config.json").write_text("{}")
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text("{}")
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "tokenizer_config.json").write_text("{}")
    return folder


@pytest.fixture
def store(data_dir: DataDir, tmp_path: Path) -> ModelStore:
    return ModelStore(data_dir, hf_cache=tmp_path / "hf-cache")


def test_in_an_empty_home_every_known_model_is_missing(store):
    listed = [s.to_json() for s in store.list()]
    assert [m["id"] for m in listed] == ["shap-e", "shap-e-img2img", "depth-anything-v2-small"]
    assert all(m["state"] == "missing" and m["folder"] is None for m in listed)
    assert {m["licence"] for m in listed} == {"MIT", "Apache-2.0"}
    assert listed[0]["adapters"] == ["shap_e"] and listed[0]["approx_size_mb"] > 1000


def test_a_complete_model_under_models_is_installed_with_its_size(store):
    folder = diffusers_model(store.models_dir / "shap-e")
    status = store.status("openai/shap-e")  # the hub id names the same model
    assert (status.state, status.source, status.folder) == ("installed", "data", folder)
    assert status.size_bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert store.locate("shap-e") == folder


def _truncate(folder: Path) -> None:
    path = folder / "prior" / "diffusion_pytorch_model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])


def _pickle_only(folder: Path) -> None:
    path = folder / "prior" / "diffusion_pytorch_model.safetensors"
    path.rename(path.with_suffix(".bin"))


@pytest.mark.parametrize(("damage", "problem"), [
    (_truncate, "prior: the weights file diffusion_pytorch_model.safetensors is truncated"),
    (lambda f: (f / "text_encoder" / "model.safetensors").unlink(),
     "text_encoder: the weights are missing"),
    (lambda f: os.rename(f / "shap_e_renderer", f / "elsewhere"),
     "the shap_e_renderer folder is missing"),
    (lambda f: (f / "model_index.json").write_text("{not json"),
     "model_index.json is not valid JSON"),
    (_pickle_only, "prior: it has only pickle weights (.bin)"),
])
def test_damaged_models_are_broken_with_a_reason(store, damage, problem):
    folder = diffusers_model(store.models_dir / "shap-e")
    damage(folder)
    status = store.status("shap-e")
    assert status.state == "broken" and status.problem.startswith(problem)
    with pytest.raises(MeshsmithError) as caught:
        store.locate("shap-e")
    assert caught.value.message == (
        f"The Shap-E model in {folder} is broken ({status.problem}); run `python main.py "
        "models download openai/shap-e` on a machine with internet, or set its folder in "
        "Settings.")


def test_pickle_weights_count_only_when_allowed(store):
    folder = diffusers_model(store.models_dir / "shap-e")
    _pickle_only(folder)
    assert store.status("shap-e", allow_pickle=True).state == "installed"
    assert store.locate("shap-e", allow_pickle=True) == folder


def test_a_missing_model_says_how_to_get_it(store):
    with pytest.raises(MeshsmithError) as caught:
        store.locate("depth-anything-v2-small")
    assert caught.value.message == (
        "The Depth Anything V2 Small model is not installed; run `python main.py models "
        f"download {DEPTH_HUB}` on a machine with internet, or set its folder in Settings.")


def test_the_folder_set_in_settings_wins_and_can_be_cleared(store, tmp_path):
    diffusers_model(store.models_dir / "shap-e")
    chosen = diffusers_model(tmp_path / "usb-stick" / "shap-e")
    store.set_folder("shap-e", chosen)
    status = store.status("shap-e")
    assert (status.state, status.source, status.folder) == ("installed", "settings", chosen)
    store.set_folder("shap-e", None)
    assert store.status("shap-e").source == "data"


def test_a_model_in_the_hugging_face_cache_is_found(store):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = store.hf_cache / f"models--{DEPTH_HUB.replace('/', '--')}"
    snapshot = transformers_model(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    status = store.status(DEPTH_HUB)
    assert (status.state, status.source, status.folder) == ("installed", "hf-cache", snapshot)


def test_a_folder_path_is_checked_as_it_is(store, tmp_path):
    folder = transformers_model(tmp_path / "my-depth")
    assert store.locate(str(folder)) == folder
    (folder / "model.safetensors").unlink()
    with pytest.raises(MeshsmithError, match="cannot be used: the weights are missing"):
        store.locate(str(folder))
    with pytest.raises(MeshsmithError, match="does not exist"):
        store.locate(str(tmp_path / "nowhere"))
    with pytest.raises(MeshsmithError, match="There is no model 'shape'"):
        store.status("shape")


def test_safetensors_check_reads_only_the_header(tmp_path):
    path = weights(tmp_path / "w.safetensors")
    assert safetensors_readable(path)
    path.write_bytes(b"\xff" * 16)
    assert not safetensors_readable(path)
    assert human_size(0) == "0 B" and human_size(3 * 2**30) == "3.0 GB"


def test_a_download_without_network_fails_with_one_sentence(store, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # never the real hub from a test
    with pytest.raises(MeshsmithError) as caught:
        store.download("shap-e")
    message = caught.value.message
    assert message.startswith("Could not download openai/shap-e: the model hub cannot be "
                              "reached from this machine;") and message.count(". ") == 0
    assert not (store.models_dir / "shap-e").exists()
    assert store.status("shap-e").state == "missing"


def test_a_download_lands_under_models_with_progress(store, monkeypatch):
    import huggingface_hub

    from engine.storage.models import progress_tqdm

    calls: dict = {}

    def fake_snapshot_download(repo_id, *, local_dir, ignore_patterns, tqdm_class):
        calls.update(repo_id=repo_id, ignore=ignore_patterns, thread=threading.current_thread())
        bar = tqdm_class(total=4, desc="Fetching 4 files")
        for _ in range(4):
            bar.update(1)
        bar.close()
        transformers_model(Path(local_dir))
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    seen: list[tuple[str, float]] = []
    status = store.download(DEPTH_HUB, tqdm_class=progress_tqdm(lambda *a: seen.append(a)))
    assert status.state == "installed" and status.folder == store.models_dir / status.info.id
    assert calls["repo_id"] == DEPTH_HUB and "*.bin" in calls["ignore"]
    assert seen == [("Fetching 4 files", f) for f in (0.25, 0.5, 0.75, 1.0)]


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MESHSMITH_HOME": str(home), "HF_HOME": str(home / "hf"),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "models", *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


@pytest.mark.slow  # five CLI processes
def test_cli_models_list_verify_and_download(tmp_path):
    home = tmp_path / "home"
    transformers_model(home / "models" / "depth-anything-v2-small")
    proc = _cli("list", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    states = {m["id"]: m["state"] for m in json.loads(proc.stdout.splitlines()[-1])}
    assert states == {"shap-e": "missing", "shap-e-img2img": "missing",
                      "depth-anything-v2-small": "installed"}
    assert _cli("verify", "depth-anything-v2-small", home=home).returncode == 0
    proc = _cli("verify", home=home)
    assert proc.returncode == 1 and "shap-e" in proc.stdout and "missing" in proc.stdout
    proc = _cli("download", "openai/shap-e", home=home)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert lines[-1].startswith("meshsmith: Could not download openai/shap-e:")
    proc = _cli("download", "nonsense", home=home)
    assert proc.returncode == 2 and "There is no model 'nonsense'" in proc.stderr
