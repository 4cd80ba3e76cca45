"""Helper processes: the work happens in another process, and one that dies fails only the
task it was running."""

from __future__ import annotations

import os
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest

from app.offload import HelperProcess
from app.viewmodels.viewport_viewmodel import ViewportViewModel

TIMEOUT_S = 60


@pytest.fixture
def helper():
    process = HelperProcess("test")
    yield process
    process.shutdown()


def test_a_task_runs_in_another_process(helper):
    assert helper.submit(os.getpid).result(TIMEOUT_S) != os.getpid()


def test_a_dead_worker_fails_its_task_and_the_next_task_gets_a_new_one(helper):
    first = helper.submit(os.getpid).result(TIMEOUT_S)
    with pytest.raises(BrokenProcessPool):
        helper.submit(os._exit, 3).result(TIMEOUT_S)  # what a segfault or the OOM killer does
    second = helper.submit(os.getpid).result(TIMEOUT_S)
    assert second not in (first, os.getpid())


def test_the_viewport_says_which_file_a_dead_helper_took_down(qtbot):
    vm = ViewportViewModel()
    try:
        died: Future = Future()
        died.set_exception(BrokenProcessPool("the helper died"))
        with qtbot.waitSignal(vm.load_failed, timeout=5_000) as failed:
            vm._on_future_done(vm._token, ("/data/huge.glb",), died)
        assert failed.args[0].startswith("huge.glb could not be shown because reading it stopped")
        assert failed.args[0].endswith(".") and "\n" not in failed.args[0]
    finally:
        vm.shutdown()
