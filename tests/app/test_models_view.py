"""The Models page: the view model scans, verifies, downloads and imports off the GUI thread;
the view shows states and licences, shows a licence with terms before any download, asks once
for pickle parts, and enables only what makes sense for the selected model."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.viewmodels.models_viewmodel import COLUMNS, FOLDER, LICENCE, SIZE, STATE, ModelsViewModel
from app.views.models_view import ModelsView
from engine.storage.models import ModelStore
from engine.storage.paths import DataDir
from tests.engine.test_models import hunyuan_model, shap_e_model, transformers_model
from tests.support.hub_layouts import HUNYUAN_MINI_REPO, SHAP_E_REPO, FakeHub, build_repo

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
    widget.asked: list[str] = []  # what the artist was asked, in order
    return widget


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    return FakeHub({"openai/shap-e": build_repo(tmp_path / "hub" / "shap-e", SHAP_E_REPO),
                    "tencent/Hunyuan3D-2mini": build_repo(tmp_path / "hub" / "mini",
                                                          HUNYUAN_MINI_REPO)}
                   ).install(monkeypatch)


def answer(view: ModelsView, *, licence: bool = True, pickle: bool = True) -> None:
    def ask_licence(info):
        view.asked.append(f"licence of {info.id}")
        return licence

    def ask_pickle(sentence):
        view.asked.append(f"pickle: {sentence}")
        return pickle

    view.ask_licence, view.ask_pickle = ask_licence, ask_pickle


def cell(vm: ModelsViewModel, model_id: str, column: int) -> str:
    return vm.table.index(vm.table.row_of(model_id), column).data()


def select(view: ModelsView, model_id: str) -> None:
    view.table.selectRow(view.vm.table.row_of(model_id))


def test_the_table_shows_state_size_folder_and_licence(vm, data_dir):
    assert vm.table.rowCount() == 7
    assert cell(vm, DEPTH, STATE) == "Installed"
    assert cell(vm, DEPTH, FOLDER) == str(data_dir.root / "models" / DEPTH)
    assert cell(vm, DEPTH, SIZE).endswith(("B", "KB"))
    assert cell(vm, "shap-e", STATE) == "Missing" and cell(vm, "shap-e", FOLDER) == "—"
    assert cell(vm, "shap-e", SIZE) == "≈ 2.5 GB"  # the expected size, before a download
    assert cell(vm, "hunyuan3d-2", LICENCE) == "Tencent Hunyuan 3D 2.0 Community"
    tooltip = vm.table.index(vm.table.row_of("hunyuan3d-2"), 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "South Korea" in tooltip
    headers = [vm.table.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))]
    assert headers == ["Name", "State", "Size", "Folder", "Licence"]


def test_buttons_and_licence_follow_the_selection(view):
    assert not view.verify_button.isEnabled() and not view.download_button.isEnabled()
    select(view, DEPTH)
    assert view.verify_button.isEnabled() and not view.download_button.isEnabled()
    assert view.licence_label.text() == "Licence: Apache-2.0."
    select(view, "hunyuan3d-2mini")
    assert view.download_button.isEnabled() and view.folder_button.isEnabled()
    assert not view.allow_button.isEnabled()
    assert "European Union" in view.licence_label.text()


def test_verify_reports_a_broken_model_in_one_sentence(qtbot, view, data_dir):
    (data_dir.root / "models" / DEPTH / "model.safetensors").write_bytes(b"\0" * 4)
    select(view, DEPTH)
    with qtbot.waitSignal(view.vm.message, timeout=10_000):
        view.verify_button.click()
    assert cell(view.vm, DEPTH, STATE) == "Broken"
    assert view.message_label.text().startswith("The Depth Anything V2 Small model in ")
    assert "truncated or unreadable" in view.message_label.text()


def test_the_licence_is_shown_before_a_download_and_declining_fetches_nothing(qtbot, view, hub):
    answer(view, licence=False)
    select(view, "hunyuan3d-2mini")
    view.download_button.click()
    assert view.asked == ["licence of hunyuan3d-2mini"] and hub.calls == []
    assert cell(view.vm, "hunyuan3d-2mini", STATE) == "Missing"


def test_download_runs_off_the_gui_thread_with_progress(qtbot, view, hub):
    answer(view)
    progress = []
    view.vm.download_progress.connect(lambda *args: progress.append(args))
    select(view, "hunyuan3d-2mini-turbo")
    with qtbot.waitSignal(view.vm.download_finished, timeout=10_000) as finished:
        view.download_button.click()
        assert cell(view.vm, "hunyuan3d-2mini-turbo", STATE).startswith("Downloading")
        assert not view.download_button.isEnabled()  # one download per model at a time
    assert finished.args == ["hunyuan3d-2mini-turbo", True]
    assert view.asked == ["licence of hunyuan3d-2mini-turbo"]  # no pickle in it: no question
    assert hub.calls[0]["thread"] is not threading.main_thread()
    qtbot.waitUntil(lambda: len(progress) == 4, timeout=5_000)
    assert progress[-1] == ("hunyuan3d-2mini-turbo", "Fetching 4 files", 1.0)
    assert cell(view.vm, "hunyuan3d-2mini-turbo", STATE) == "Installed"
    assert view.progress.isHidden()


def test_a_pickle_part_is_asked_about_once_and_remembered(qtbot, view, hub):
    answer(view, pickle=False)
    select(view, "shap-e")
    view.download_button.click()
    assert hub.calls == [] and view.message_label.text() == "Shap-E was not downloaded."
    assert view.asked[0].startswith("pickle: Shap-E has a part that exists only as a pickle "
                                    "(shap_e_renderer/diffusion_pytorch_model.bin)")
    answer(view, pickle=True)
    with qtbot.waitSignal(view.vm.download_finished, timeout=10_000) as finished:
        view.download_button.click()
    assert finished.args == ["shap-e", True]
    assert view.vm.store.pickle_allowed("shap-e") and not view.vm.needs_consent("shap-e")


def test_a_failed_download_says_why_and_leaves_the_model_missing(qtbot, view, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    answer(view)
    select(view, "hunyuan3d-2")
    with qtbot.waitSignal(view.vm.download_finished, timeout=10_000) as finished:
        view.download_button.click()
    assert finished.args == ["hunyuan3d-2", False]
    assert view.message_label.text().startswith("Could not download tencent/Hunyuan3D-2:")
    assert cell(view.vm, "hunyuan3d-2", STATE) == "Missing"
    assert view.download_button.isEnabled()


def test_import_folder_checks_a_copied_model_before_using_it(qtbot, view, tmp_path):
    broken = tmp_path / "half-copied"
    build_repo(broken, ("hunyuan3d-dit-v2-mini-turbo/config.yaml",))
    view.ask_folder = lambda name: str(broken)
    select(view, "hunyuan3d-2mini-turbo")
    with qtbot.waitSignal(view.vm.message, timeout=10_000):
        view.folder_button.click()
    assert view.message_label.text().startswith(
        f"{broken} cannot be imported as Hunyuan3D-2mini Turbo: ")
    assert cell(view.vm, "hunyuan3d-2mini-turbo", STATE) == "Missing"
    copied = hunyuan_model(tmp_path / "copied")
    view.ask_folder = lambda name: str(copied)
    with qtbot.waitSignal(view.vm.message, timeout=10_000):
        view.folder_button.click()
    assert cell(view.vm, "hunyuan3d-2mini-turbo", FOLDER) == str(copied)
    assert cell(view.vm, "hunyuan3d-2mini-turbo", STATE) == "Installed"


def test_importing_a_model_with_a_pickle_part_asks_first(qtbot, view, tmp_path):
    answer(view, pickle=True)
    copied = shap_e_model(tmp_path / "copied-shap-e")
    view.ask_folder = lambda name: str(copied)
    select(view, "shap-e")
    with qtbot.waitSignal(view.vm.message, timeout=10_000):
        view.folder_button.click()
    qtbot.waitUntil(lambda: cell(view.vm, "shap-e", STATE) == "Installed", timeout=10_000)
    assert len(view.asked) == 1 and "shap_e_renderer weights are a pickle" in view.asked[0]
    assert view.vm.store.status("shap-e").folder == copied
