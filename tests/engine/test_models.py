"""The model store: where models are found, when they count as installed, missing, broken or
waiting for the artist's permission, the sentence a job gets, downloads of exactly the files a
loader needs (from a stand-in hub with the real repositories' layouts), and importing a
folder downloaded elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import MeshsmithError
from engine.storage.model_catalog import SHAP_E_FILES
from engine.storage.models import ConsentNeeded, ModelStore, human_size, safetensors_readable
from engine.storage.paths import DataDir
from tests.conftest import ROOT
from tests.support.hub_layouts import (
    HUNYUAN_MINI_REPO,
    SHAP_E_REPO,
    FakeHub,
    build_repo,
    fetched,
)

DEPTH_HUB = "depth-anything/Depth-Anything-V2-Small-hf"
KNOWN = ["shap-e", "shap-e-img2img", "depth-anything-v2-small", "hunyuan3d-2mini-turbo",
         "hunyuan3d-2mini", "hunyuan3d-2", "hunyuan3d-2mv"]
MINI_TURBO = {"hunyuan3d-dit-v2-mini-turbo/config.yaml",
              "hunyuan3d-dit-v2-mini-turbo/model.fp16.safetensors",
              "hunyuan3d-vae-v2-mini-turbo/config.yaml",
              "hunyuan3d-vae-v2-mini-turbo/model.fp16.safetensors"}


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


def shap_e_model(folder: Path) -> Path:
    """Shap-E as a download leaves it: the real repository's files the loader needs."""
    return build_repo(folder, SHAP_E_FILES)


def hunyuan_model(folder: Path) -> Path:
    """Hunyuan3D-2mini Turbo as a download leaves it."""
    return build_repo(folder, tuple(sorted(MINI_TURBO)))


@pytest.fixture
def store(data_dir: DataDir, tmp_path: Path) -> ModelStore:
    return ModelStore(data_dir, hf_cache=tmp_path / "hf-cache")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    repos = {"openai/shap-e": build_repo(tmp_path / "hub" / "shap-e", SHAP_E_REPO),
             "tencent/Hunyuan3D-2mini": build_repo(tmp_path / "hub" / "mini", HUNYUAN_MINI_REPO)}
    repos[DEPTH_HUB] = transformers_model(tmp_path / "hub" / "depth")
    (repos[DEPTH_HUB] / "pytorch_model.bin").write_bytes(b"\x80\x02pickle")
    return FakeHub(repos).install(monkeypatch)


def test_in_an_empty_home_every_known_model_is_missing(store):
    listed = [s.to_json() for s in store.list()]
    assert [m["id"] for m in listed] == KNOWN
    assert all(m["state"] == "missing" and m["folder"] is None for m in listed)
    assert {m["licence"] for m in listed} == {"MIT", "Apache-2.0",
                                              "Tencent Hunyuan 3D 2.0 Community"}
    hunyuan = listed[3]
    assert "European Union" in hunyuan["licence_terms"] and "1 million" in hunyuan["licence_terms"]
    assert listed[0]["adapters"] == ["shap_e"] and listed[0]["approx_size_mb"] > 1000


def test_a_complete_model_is_installed_once_its_pickle_part_is_allowed(store, data_dir):
    folder = shap_e_model(store.models_dir / "shap-e")
    status = store.status("openai/shap-e")  # the hub id names the same model
    assert (status.state, status.folder) == ("needs_consent", folder)
    assert status.problem.startswith("shap_e_renderer weights are a pickle file "
                                     "(diffusion_pytorch_model.bin)")
    with pytest.raises(MeshsmithError) as caught:
        store.locate("shap-e")
    assert caught.value.message == (
        "The Shap-E model's shap_e_renderer weights are a pickle file "
        "(diffusion_pytorch_model.bin), which can run code when it is loaded; allow it once "
        "on the Models page or with `python main.py models allow shap-e`.")
    store.allow_pickle("shap-e")
    again = ModelStore(data_dir, hf_cache=store.hf_cache)  # remembered, not per session
    status = again.status("shap-e")
    assert (status.state, status.source) == ("installed", "data")
    assert status.size_bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert again.locate("shap-e").folder == folder
    again.allow_pickle("shap-e", False)
    assert store.status("shap-e").state == "needs_consent"


def _truncate(folder: Path) -> None:
    path = folder / "prior" / "diffusion_pytorch_model.fp16.safetensors"
    path.write_bytes(path.read_bytes()[:-10])


def _index(folder: Path, **changes: object) -> None:
    index = json.loads((folder / "model_index.json").read_text())
    index.update(changes)
    (folder / "model_index.json").write_text(json.dumps(
        {k: v for k, v in index.items() if v is not None}))


@pytest.mark.parametrize(("damage", "problem"), [
    (_truncate, "prior: the weights file diffusion_pytorch_model.fp16.safetensors is truncated"),
    (lambda f: (f / "text_encoder" / "model.fp16.safetensors").unlink(),
     "text_encoder: the weights are missing"),
    (lambda f: os.rename(f / "shap_e_renderer", f / "elsewhere"),
     "the shap_e_renderer folder is missing"),
    (lambda f: (f / "model_index.json").write_text("{not json"),
     "model_index.json is not valid JSON"),
    (lambda f: (f / "model_index.json").write_text("{}"), "model_index.json names no components"),
    (lambda f: _index(f, shap_e_renderer=None),
     "model_index.json does not name its shap_e_renderer"),
    (lambda f: (f / "scheduler" / "scheduler_config.json").unlink(),
     "the scheduler folder has no configuration"),
])
def test_damaged_models_are_broken_with_a_reason(store, damage, problem):
    folder = shap_e_model(store.models_dir / "shap-e")
    store.allow_pickle("shap-e")
    damage(folder)
    status = store.status("shap-e")
    assert status.state == "broken" and status.problem.startswith(problem)
    with pytest.raises(MeshsmithError) as caught:
        store.locate("shap-e")
    assert caught.value.message == (
        f"The Shap-E model in {folder} is broken ({status.problem}); run `python main.py "
        "models download shap-e` on a machine with internet, or import its folder on the "
        "Models page.")


def test_a_hunyuan_model_is_checked_subfolder_by_subfolder(store):
    folder = hunyuan_model(store.models_dir / "hunyuan3d-2mini-turbo")
    assert store.status("hunyuan3d-2mini-turbo").state == "installed"
    dit = folder / "hunyuan3d-dit-v2-mini-turbo"
    config = (dit / "config.yaml").read_text()
    (dit / "config.yaml").write_text(config.replace("conditioner:", "other:"))
    assert store.status("hunyuan3d-2mini-turbo").problem == (
        "hunyuan3d-dit-v2-mini-turbo/config.yaml has no conditioner section")
    (dit / "config.yaml").write_text(config)
    from safetensors.numpy import save_file

    save_file({"model.w": np.zeros(4, np.float16)}, str(dit / "model.fp16.safetensors"))
    assert store.status("hunyuan3d-2mini-turbo").problem.startswith(
        "hunyuan3d-dit-v2-mini-turbo's weights hold no vae")
    vae = folder / "hunyuan3d-vae-v2-mini-turbo" / "model.fp16.safetensors"
    vae.rename(vae.with_suffix(".ckpt"))
    assert store.status("hunyuan3d-2mini-turbo").problem.startswith(
        "hunyuan3d-dit-v2-mini-turbo's weights")  # the DiT is checked first
    hunyuan_model(folder)
    (folder / "hunyuan3d-vae-v2-mini-turbo" / "model.fp16.safetensors").unlink()
    assert store.status("hunyuan3d-2mini-turbo").problem == (
        "hunyuan3d-vae-v2-mini-turbo has only a .ckpt pickle, which Meshsmith does not load")


def test_a_missing_model_says_how_to_get_it(store):
    with pytest.raises(MeshsmithError) as caught:
        store.locate("depth-anything-v2-small")
    assert caught.value.message == (
        "The Depth Anything V2 Small model is not installed; run `python main.py models "
        "download depth-anything-v2-small` on a machine with internet, or import its folder on "
        "the Models page.")


def test_the_folder_set_for_a_model_wins_and_can_be_cleared(store, tmp_path):
    transformers_model(store.models_dir / "depth-anything-v2-small")
    chosen = transformers_model(tmp_path / "usb-stick" / "depth")
    store.set_folder("depth-anything-v2-small", chosen)
    status = store.status(DEPTH_HUB)
    assert (status.state, status.source, status.folder) == ("installed", "settings", chosen)
    store.set_folder("depth-anything-v2-small", None)
    assert store.status(DEPTH_HUB).source == "data"


def test_a_model_in_the_hugging_face_cache_is_found(store):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = store.hf_cache / "models--tencent--Hunyuan3D-2mini"
    snapshot = hunyuan_model(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    status = store.status("hunyuan3d-2mini-turbo")
    assert (status.state, status.source, status.folder) == ("installed", "hf-cache", snapshot)


def test_a_folder_path_is_checked_as_it_is(store, tmp_path):
    folder = transformers_model(tmp_path / "my-depth")
    assert store.locate(str(folder)).folder == folder
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
    for bad in (b"\xff" * 16, b"", b"\x08\x00\x00\x00\x00\x00\x00\x00[1, 2]xx"):
        path.write_bytes(bad)
        assert not safetensors_readable(path)
    assert human_size(0) == "0 B" and human_size(3 * 2**30) == "3.0 GB"


def test_a_download_fetches_exactly_the_files_the_loader_reads(store, hub):
    with pytest.raises(ConsentNeeded, match=r"shap_e_renderer/diffusion_pytorch_model\.bin"):
        store.download("shap-e")
    assert hub.calls == [] and not (store.models_dir / "shap-e").exists()
    status = store.download("shap-e", allow_pickle=True)
    assert status.state == "installed"
    got = fetched(status.folder)
    assert got == set(SHAP_E_FILES)
    # fp16 safetensors where the repository has them; the one pickle only where it has no other
    assert {f for f in got if f.endswith(".bin")} == {"shap_e_renderer/diffusion_pytorch_model.bin"}
    assert not any(f.startswith("renderer/") for f in got)
    assert store.pickle_allowed("shap-e")  # remembered for the jobs that load it
    status = store.download("hunyuan3d-2mini-turbo")
    assert status.state == "installed" and fetched(status.folder) == MINI_TURBO
    assert fetched(store.download("hunyuan3d-2mini").folder) == {
        "hunyuan3d-dit-v2-mini/config.yaml", "hunyuan3d-dit-v2-mini/model.fp16.safetensors"}


def test_a_download_without_network_fails_with_one_sentence(store, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # never the real hub from a test
    with pytest.raises(MeshsmithError) as caught:
        store.download("hunyuan3d-2mini")
    message = caught.value.message
    assert message.startswith("Could not download tencent/Hunyuan3D-2mini: the model hub "
                              "cannot be reached from this machine;") and message.count(". ") == 0
    assert not (store.models_dir / "hunyuan3d-2mini").exists()
    assert store.status("hunyuan3d-2mini").state == "missing"


def test_a_download_reports_its_progress(store, hub):
    from engine.storage.models import progress_tqdm

    seen: list[tuple[str, float]] = []
    status = store.download(DEPTH_HUB, tqdm_class=progress_tqdm(lambda *a: seen.append(a)))
    assert status.state == "installed" and status.folder == store.models_dir / status.info.id
    assert seen == [("Fetching 3 files", f) for f in (1 / 3, 2 / 3, 1.0)]
    assert "pytorch_model.bin" not in fetched(status.folder)


def test_import_registers_a_checked_snapshot_from_elsewhere(store, tmp_path):
    plain = hunyuan_model(tmp_path / "usb" / "mini-turbo")
    status = store.import_folder("hunyuan3d-2mini-turbo", plain)
    assert (status.state, status.source, status.folder) == ("installed", "settings", plain)
    assert store.status("hunyuan3d-2mini-turbo").folder == plain
    # a Hugging Face cache entry from another machine stands for its current snapshot
    commit = "fedcba9876543210fedcba9876543210fedcba98"
    entry = tmp_path / "copied-cache" / "models--openai--shap-e"
    snapshot = shap_e_model(entry / "snapshots" / commit)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit)
    with pytest.raises(ConsentNeeded):
        store.import_folder("shap-e", entry)
    assert "shap-e" not in store.folders()
    assert store.import_folder("shap-e", entry, allow_pickle=True).folder == snapshot


@pytest.mark.parametrize("folder", ["nowhere", "empty", "half"])
def test_import_refuses_a_folder_that_cannot_work_and_registers_nothing(store, tmp_path, folder):
    path = tmp_path / folder
    if folder != "nowhere":
        path.mkdir()
    if folder == "half":
        build_repo(path, ("hunyuan3d-dit-v2-mini-turbo/config.yaml",))
    with pytest.raises(MeshsmithError) as caught:
        store.import_folder("hunyuan3d-2mini-turbo", path)
    assert caught.value.message.startswith(f"{path} cannot be imported as Hunyuan3D-2mini Turbo:")
    assert store.folders() == {}


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MESHSMITH_HOME": str(home), "HF_HOME": str(home / "hf"),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "models", *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
                          stdin=subprocess.DEVNULL)


@pytest.mark.slow  # eight CLI processes
def test_cli_models_list_verify_import_allow_and_download(tmp_path):
    home = tmp_path / "home"
    transformers_model(home / "models" / "depth-anything-v2-small")
    proc = _cli("list", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    states = {m["id"]: m["state"] for m in json.loads(proc.stdout.splitlines()[-1])}
    assert states == {**dict.fromkeys(KNOWN, "missing"), "depth-anything-v2-small": "installed"}
    assert _cli("verify", "depth-anything-v2-small", home=home).returncode == 0
    proc = _cli("verify", home=home)
    assert proc.returncode == 1 and "shap-e" in proc.stdout and "missing" in proc.stdout
    copied = shap_e_model(tmp_path / "copied-shap-e")
    proc = _cli("import", "shap-e", str(copied), home=home)  # no terminal: no question asked
    assert proc.returncode == 2 and "allow" in proc.stderr and "Traceback" not in proc.stderr
    assert _cli("allow", "shap-e", home=home).returncode == 0
    proc = _cli("import", "shap-e", str(copied), home=home)
    assert proc.returncode == 0 and proc.stdout.strip() == str(copied)
    proc = _cli("download", "hunyuan3d-2mini", home=home)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "licence: Tencent Hunyuan 3D 2.0 Community License" in lines[0]
    assert lines[-1].startswith("meshsmith: Could not download tencent/Hunyuan3D-2mini:")
    proc = _cli("download", "nonsense", home=home)
    assert proc.returncode == 2 and "There is no model 'nonsense'" in proc.stderr
