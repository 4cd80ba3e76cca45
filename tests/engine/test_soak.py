"""A small soak (benchmarks/soak.py --jobs 40): real engine, real workers, faults and cancels,
hostile inputs; nothing lost, nothing leaked. The full run's figures are in docs/reliability.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_small_soak_loses_nothing_and_leaks_nothing():
    run = subprocess.run(
        [sys.executable, "benchmarks/soak.py", "--jobs", "40", "--hostile", "40", "--seed", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["problems"] == [], run.stderr[-3000:]
    assert run.returncode == 0 and figures["ok"]
    assert figures["jobs"] == figures["terminal"] == 40
    assert figures["lost"] == figures["not_terminal"] == 0
    assert figures["rss_mb"]["growth_after_warmup"] < 50
    assert figures["fds"]["leaked"] == 0 and figures["processes"]["leaked"] == 0
    faults = figures["faults_injected"]
    assert faults["cancels"] > 0 and sum(figures["by_kind"].values()) == 40
    assert figures["hostile_inputs"]["tried"] == 40
    assert figures["hostile_inputs"]["refused"] > 0
