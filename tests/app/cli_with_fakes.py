"""``python -m tests.app.cli_with_fakes ARGS...``: main.py's command line, real in every way
except that the fake sleepy adapter is registered too, so a test can stop a job midway."""

from __future__ import annotations

import sys

import app.cli
from adapters.registry import SPECS
from engine.contract.spec import Registry
from tests.engine.fake_adapters import sleepy_spec


def registry() -> Registry:
    return Registry([*SPECS, sleepy_spec()])


if __name__ == "__main__":
    app.cli.default_registry = registry  # what the CLI's engine and its checks look up
    sys.exit(app.cli.main(sys.argv[1:]))
