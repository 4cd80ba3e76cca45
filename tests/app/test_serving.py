"""The studio serves the HTTP API from its Jobs menu on its own engine: jobs sent through it
appear in Jobs and History tagged with their user, and unchecking the menu stops serving."""

from __future__ import annotations

import socket

import httpx
import pytest
from PySide6.QtWidgets import QMessageBox

from app.bridge import EngineBridge
from app.viewmodels.history_viewmodel import JOB_ROLE, USER
from app.views.main_window import MainWindow
from tests.server.conftest import b64

pytestmark = pytest.mark.slow


@pytest.fixture
def window(qtbot, engine, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qs"))
    QSettings().setValue("server/port", 0)  # any free port
    errors: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: errors.append(text))
    win = MainWindow(EngineBridge(engine))
    win.errors = errors
    qtbot.addWidget(win)
    yield win
    win.release()


def test_the_menu_serves_the_api_and_its_jobs_show_with_their_user(qtbot, window, box_obj):
    with qtbot.waitSignal(window.serving_vm.serving_changed, timeout=60_000) as started:
        window.serve_action.trigger()
    url = started.args[0]
    assert url.startswith("http://127.0.0.1:") and window.serve_action.isChecked()
    body = {"mesh_base64": b64(box_obj), "model_preference": "sleepy",
            "params": {"steps": 30, "step_s": 0.05}}
    answer = httpx.post(f"{url}/api/v1/mesh-segmentation/segment-mesh", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["job_id"]
    jobs = window.jobs_vm.model
    qtbot.waitUntil(lambda: jobs.find(job_id) >= 0, timeout=30_000)
    assert jobs.data(jobs.index(jobs.find(job_id), 0)).endswith(" · api")
    history = window.history_vm.model
    qtbot.waitUntil(lambda: (job := history.job(job_id)) is not None and job.state.terminal,
                    timeout=120_000)
    row = next(r for r in range(history.rowCount())
               if history.data(history.index(r, 0), JOB_ROLE).job_id == job_id)
    assert history.data(history.index(row, USER)) == "api"
    with qtbot.waitSignal(window.serving_vm.serving_changed, timeout=60_000) as stopped:
        window.serve_action.trigger()
    assert stopped.args == [""] and not window.serve_action.isChecked()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=5)


def test_a_busy_port_is_one_sentence_and_the_menu_stays_unchecked(qtbot, window):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        from dataclasses import replace

        window.serving_vm.config = replace(window.serving_vm.config,
                                           port=taken.getsockname()[1])
        with qtbot.waitSignal(window.serving_vm.error_raised, timeout=60_000) as failed:
            window.serve_action.trigger()
    assert failed.args[0].startswith("Could not listen on 127.0.0.1:")
    qtbot.waitUntil(lambda: not window.serve_action.isChecked(), timeout=10_000)
    assert not window.serving_vm.serving
