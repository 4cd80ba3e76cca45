"""The Models page: the view model scans, verifies and downloads off the GUI thread; the view
shows states and enables only what makes sense for the selected model."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.viewmodels.models_viewmodel import COLUMNS, FOLDER, SIZE, STATE, ModelsViewModel
from app.views.models_view import ModelsView
from engine.storage.models import ModelStore
from engine.storage.paths import DataDir
from tests.engine.test_models import transformers_model

DEPTH = "depth-anything-v2-small"


@pytest.fixture
def vm(qtbot, data_dir: DataDir, tmp_path: Path) -> ModelsViewModel:
    transformers_model(data_dir.root / "models" / DEPTH)
    view_model = ModelsViewModel(ModelStore(data_dir, hf_cache=tmp_path / "hf-cache"))
    with qtbot.waitSignal(view_model.table.modelReset, timeout=10_000):
        view_model.refresh()
    return view_model


@pytest.fixture
def view(qtbot, vm: ModelsViewModel) -> ModelsView:
    widget = ModelsView(vm)
    qtbot.addWidget(widget)
    return widget


def cell(vm: ModelsViewModel, model_id: str, column: int) -> str:
    return vm.table.index(vm.table.row_of(model_id), column).data()


def select(view: ModelsView, model_id: str) -> None:
    view.table.selectRow(view.vm.table.row_of(model_id))


def test_the_table_shows_state_size_folder_and_licence(vm, data_dir):
    assert vm.table.rowCount() == 3
    assert cell(vm, DEPTH, STATE) == "Installed"
    assert cell(vm, DEPTH, FOLDER) == str(data_dir.root / "models" / DEPTH)
    assert cell(vm, DEPTH, SIZE).endswith(("B", "KB"))
    assert cell(vm, "shap-e", STATE) == "Missing" and cell(vm, "shap-e", FOLDER) == "—"
    assert cell(vm, "shap-e", SIZE) == "≈ 2.5 GB"  # the expected size, before a download
    headers = [vm.table.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))]
    assert headers == ["Name", "State", "Size", "Folder", "Licence"]


def test_buttons_follow_the_selection(view):
    assert not view.verify_button.isEnabled() and not view.download_button.isEnabled()
    select(view, DEPTH)
    assert view.verify_button.isEnabled() and not view.download_button.isEnabled()
    select(view, "shap-e")
    assert view.download_button.isEnabled() and view.folder_button.isEnabled()


def test_verify_reports_a_broken_model_in_one_sentence(qtbot, view, data_dir):
    (data_dir.root / "models" / DEPTH / "model.safetensors").write_bytes(b"\0" * 4)
    select(view, DEPTH)
    with qtbot.waitSignal(view.vm.message, timeout=10_000):
        view.verify_button.click()
    assert cell(view.vm, DEPTH, STATE) == "Broken"
    assert view.message_label.text().startswith("The Depth Anything V2 Small model in ")
    assert "truncated or unreadable" in view.message_label.text()


def test_download_runs_off_the_gui_thread_with_progress(qtbot, view, monkeypatch):
    import huggingface_hub

    threads = []

    def fake_snapshot_download(repo_id, *, local_dir, ignore_patterns, tqdm_class):
        threads.append(threading.current_thread())
        bar = tqdm_class(total=2, desc="Fetching 2 files")
        bar.update(1)
        bar.update(1)
        bar.close()
        Path(local_dir).mkdir(parents=True)
        (Path(local_dir) / "model_index.json").write_text("{}")  # a pipeline of nothing
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    progress = []
    view.vm.download_progress.connect(lambda *args: progress.append(args))
    select(view, "shap-e")
    with qtbot.waitSignal(view.vm.download_finished, timeout=10_000) as finished:
        view.download_button.click()
        assert cell(view.vm, "shap-e", STATE).startswith("Downloading")
        assert not view.download_button.isEnabled()  # one download per model at a time
    assert finished.args == ["shap-e", True]
    assert threads and threads[0] is not threading.main_thread()
    qtbot.waitUntil(lambda: len(progress) == 2, timeout=5_000)
    assert progress[-1] == ("shap-e", "Fetching 2 files", 1.0)
    assert cell(view.vm, "shap-e", STATE) == "Installed" and view.progress.isHidden()


def test_a_failed_download_says_why_and_leaves_the_model_missing(qtbot, view, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    select(view, "shap-e-img2img")
    with qtbot.waitSignal(view.vm.download_finished, timeout=10_000) as finished:
        view.download_button.click()
    assert finished.args == ["shap-e-img2img", False]
    assert view.message_label.text().startswith("Could not download openai/shap-e-img2img:")
    assert cell(view.vm, "shap-e-img2img", STATE) == "Missing"
    assert view.download_button.isEnabled()


def test_set_folder_uses_a_copied_model(qtbot, view, tmp_path):
    copied = transformers_model(tmp_path / "copied-depth")
    view.ask_folder = lambda name: str(copied)
    select(view, DEPTH)
    with qtbot.waitSignal(view.vm.message, timeout=10_000):
        view.folder_button.click()
    assert cell(view.vm, DEPTH, FOLDER) == str(copied)
    assert view.vm.store.status(DEPTH).source == "settings"
