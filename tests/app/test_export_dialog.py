"""Export from the History panel: the dialog's choices reach engine.export.exporter through the view
model, off the GUI thread, and the panel says what the format kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.viewmodels.history_viewmodel import HistoryViewModel
from app.views.export_dialog import ExportDialog
from app.views.history_view import HistoryView
from engine.export.exporter import ExportOptions
from tests.app.history_support import StubBridge
from tests.engine.test_export import add_succeeded_job, parts_glb  # noqa: F401 (a fixture)


@pytest.fixture
def history(qapp, data_dir, parts_glb):  # noqa: F811
    bridge = StubBridge(data_dir)
    add_succeeded_job(bridge.engine.store, data_dir, "seg1", parts_glb)
    vm = HistoryViewModel(bridge)
    yield vm
    vm.close()
    bridge.engine.store.close()


def test_the_dialog_gathers_format_destination_and_options(qtbot, tmp_path):
    dialog = ExportDialog(tmp_path / "chair.glb")
    qtbot.addWidget(dialog)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("usdz"))
    assert dialog.destination() == str(tmp_path / "chair.usdz")  # the suffix follows
    assert "no skin" in dialog.keeps_label.text()
    dialog.scale_spin.setValue(100.0)
    dialog.up_combo.setCurrentIndex(dialog.up_combo.findData("z"))
    dialog.apply_check.setChecked(True)
    assert dialog.options() == ExportOptions(format="usdz", scale=100.0, up="z",
                                             apply_transforms=True)


def test_the_history_panel_exports_through_the_dialog(qtbot, history, tmp_path, monkeypatch):
    view = HistoryView(history)
    qtbot.addWidget(view)
    dest = tmp_path / "out" / "chair.obj"
    monkeypatch.setattr(view, "ask_export",
                        lambda suggested: (str(dest), ExportOptions(format="obj", scale=2.0)))
    view.table.selectRow(0)
    with qtbot.waitSignal(history.export_finished, timeout=30_000) as done:
        view.job_actions["export"].trigger()
    result = done.args[0]
    assert result.job_id == "seg1" and Path(result.path) == dest and dest.is_file()
    assert dest.with_suffix(".mtl").is_file()
    assert view.message_label.text().startswith(f"Exported job seg1 to {dest} (checked: 332 "
                                                "faces). The 2 parts are separate OBJ objects")


def test_a_failed_export_says_one_sentence(qtbot, history, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with qtbot.waitSignal(history.error_raised, timeout=30_000) as error:
        history.export("seg1", str(blocker / "chair.ply"), ExportOptions(format="ply"))
    assert error.args[0].startswith("Job seg1 could not be exported: Could not write ")
