"""One studio per machine: a second launch hands its files to the running studio and exits;
``main.py run`` and ``main.py pipeline`` submit to the running studio's engine, stream its
progress and keep their result JSON and exit codes; a killed CLI leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.bridge import EngineBridge
from app.single_instance import serve_studio
from app.views.main_window import MainWindow
from engine.errors import MeshsmithError
from engine.jobs import JobState
from engine.pipelines.recipes import Recipe, RecipeBook
from engine.pipelines.runner import PipelineRunner
from engine.runtime.instance import InstanceServer, socket_path
from engine.runtime.instance_client import InstanceClient
from engine.storage.paths import DataDir
from tests.conftest import ROOT


def launch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                            env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture
def studio(engine):
    """The running studio's side without a window: its engine, serving later launches."""
    opened: list[list[str]] = []
    runner = PipelineRunner(engine)
    server = InstanceServer(engine, on_open=opened.append, pipelines=runner).start()
    server.opened = opened
    yield server
    server.close()
    runner.close()


@pytest.mark.slow
def test_a_second_launch_forwards_its_file_to_the_running_studio(qtbot, engine, box_obj,
                                                                 tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "q"))
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: None)
    bridge = EngineBridge(engine)
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    server = serve_studio(window, engine, bridge.pipelines)
    try:
        second = launch(str(box_obj))
        qtbot.waitUntil(lambda: window.create_vm.staged is not None, timeout=60_000)
        code, _out, err = finish(second, 30)
        assert code == 0, err
        assert "handed 1 file(s) to the studio already running" in err
        assert window.create_vm.staged.original_name == "box.obj"
        assert socket_path(engine.data).exists()
    finally:
        server.close()
        bridge.pipelines.close()
        window.release()
    assert not socket_path(engine.data).exists()  # a closed studio leaves no socket behind


def test_forwarded_paths_are_absolute_and_a_bare_launch_just_wakes_the_studio(studio, box_obj):
    relative = os.path.relpath(box_obj, ROOT)
    for args, wanted in (([relative], [str(box_obj)]), ([], [])):
        code, _out, err = finish(launch(*args), 60)
        assert code == 0, err
        assert studio.opened[-1] == wanted


@pytest.mark.slow
def test_run_submits_to_the_running_studio_and_prints_its_result(studio, engine, box_obj):
    code, out, err = finish(launch("run", "mesh_segmentation", str(box_obj), "--adapter",
                                   "sleepy", "--param", "steps=3", "--json"))
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "succeeded" and result["adapter"] == "sleepy"
    job = engine.store.get(result["job_id"])  # the studio's engine ran it
    assert job is not None and job.state is JobState.SUCCEEDED
    assert "step 3 of 3" in err  # progress streamed back over the socket


@pytest.mark.slow
def test_run_in_the_studio_keeps_the_exit_codes(studio, engine, box_obj, tmp_path):
    code, out, err = finish(launch("run", "mesh_segmentation", str(box_obj), "--adapter",
                                   "sleepy", "--param", "fail=true", "--json"))
    assert code == 1 and json.loads(out.splitlines()[-1])["status"] == "failed"
    assert err.strip().splitlines()[-1] == "meshsmith: Fake sleepy failed: the fake adapter " \
                                           "was told to fail."
    code, out, err = finish(launch("run", "mesh_segmentation", str(tmp_path / "nowhere.obj"),
                                   "--adapter", "sleepy"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_run_in_the_studio_keeps_its_own_time_limit(studio, engine, box_obj):
    code, out, err = finish(launch("run", "mesh_segmentation", str(box_obj), "--adapter",
                                   "sleepy", "--param", "steps=2000", "--param", "step_s=0.05",
                                   "--timeout", "1", "--json"))
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and result["status"] == "failed", err
    assert result["error"]["code"] == "TIMEOUT"
    assert engine.store.get(result["job_id"]).spec.timeout_s == 1.0


def test_a_bad_time_limit_handed_to_the_studio_is_one_sentence(studio, engine, box_obj):
    with InstanceClient.connect(engine.data) as client, pytest.raises(MeshsmithError) as err:
        list(client.request({"op": "submit", "feature": "mesh_segmentation", "adapter": "sleepy",
                             "inputs": [str(box_obj)], "timeout_s": "soon"}))
    assert str(err.value) == "The time limit must be a positive number of seconds, not 'soon'."
    assert engine.store.list() == []  # nothing was queued


@pytest.mark.slow
def test_a_killed_cli_cancels_its_job_in_the_studio(studio, engine, box_obj):
    proc = launch("run", "mesh_segmentation", str(box_obj), "--adapter", "sleepy",
                  "--param", "steps=2000", "--param", "step_s=0.05")
    deadline = time.monotonic() + 60
    while not engine.store.list(states=[JobState.RUNNING]):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    (job,) = engine.store.list(states=[JobState.RUNNING])
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert engine.wait(job.job_id, timeout=30).status == "cancelled"


@pytest.mark.slow
def test_a_pipeline_runs_in_the_studio(studio, engine, box_obj, data_dir):
    recipe = Recipe.model_validate({"name": "Two sleeps", "steps": [
        {"feature": "mesh_segmentation", "adapter": "sleepy", "params": {"steps": 2}},
        {"feature": "part_completion", "adapter": "sleepy_parts", "params": {"steps": 2}}]})
    RecipeBook(data_dir).save(recipe)
    code, out, err = finish(launch("pipeline", "two-sleeps", str(box_obj), "--json"))
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "succeeded" and len(result["steps"]) == 2
    jobs = engine.store.list(pipeline_id=result["pipeline_id"])
    assert len(jobs) == 2 and all(j.pipeline.name == "Two sleeps" for j in jobs)


def test_a_stale_socket_means_no_studio(data_dir, engine):
    path = socket_path(data_dir)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crashed studio leaves
    assert InstanceClient.connect(data_dir) is None
    server = InstanceServer(engine, on_open=lambda paths: None).start()  # replaces it
    try:
        client = InstanceClient.connect(data_dir)
        assert client is not None and client.studio_pid == os.getpid()
        client.close()
    finally:
        server.close()


def test_a_deep_data_directory_gets_a_short_socket_path(tmp_path):
    deep = DataDir(tmp_path / ("x" * 60) / ("y" * 60))
    path = socket_path(deep)
    assert len(os.fsencode(path)) < 100 and path.name.endswith(".sock")
    assert path == socket_path(DataDir(Path(str(deep.root))))  # the same folder, every time
