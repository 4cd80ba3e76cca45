"""kill -9 of the studio takes its helper processes with it: the offload helpers (prctl
PR_SET_PDEATHSIG, engine.workers.lifeline) and so the multiprocessing resource tracker, which
lives while any of them holds its pipe. The real studio, under the tests' Xvfb display."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def children(pid: int) -> dict[int, str]:
    """Every descendant of ``pid``: its command line."""
    found: dict[int, str] = {}
    parents = {pid}
    for _ in range(4):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in found:
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) in parents:
                found[int(entry.name)] = cmdline
        parents = {pid, *found}
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_none_outlive(helpers: dict[int, str], within_s: float = 10.0) -> None:
    """Every process in ``helpers`` (pid: command line) is gone within ``within_s`` of the
    studio's end; any left is killed before the test fails, so no orphan outlives the run."""
    deadline = time.monotonic() + within_s
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: cmd for pid, cmd in helpers.items() if alive(pid)}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"outlived the studio: {left}"


@pytest.mark.slow
def test_kill_9_of_the_studio_leaves_no_helper_or_resource_tracker(box_obj, tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs the tests' Xvfb display")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    studio = subprocess.Popen([sys.executable, str(ROOT / "main.py"), str(box_obj)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        helpers: dict[int, str] = {}
        while time.monotonic() < deadline:
            helpers = children(studio.pid)
            spawned = [c for c in helpers.values() if "spawn_main" in c]
            trackers = [c for c in helpers.values() if "resource_tracker" in c]
            if len(spawned) >= 2 and trackers:
                break
            assert studio.poll() is None, studio.stderr.read().decode()
            time.sleep(0.5)
        else:
            pytest.fail(f"the studio never started its helpers: {helpers}")
    finally:
        studio.send_signal(signal.SIGKILL)
        studio.wait(10)
    assert_none_outlive(helpers)
