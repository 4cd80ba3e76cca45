"""The real studio (``main.py``) with the tests' sleepy adapters added to its registry, so a
test can start a job that runs as long as it likes: ``python -m tests.app.sleepy_studio``."""

from __future__ import annotations

import sys

import app.studio
from adapters.registry import SPECS
from engine.contract.spec import Registry
from tests.engine.fake_adapters import sleepy_spec


def sleepy_registry() -> Registry:
    return Registry([*SPECS, sleepy_spec()])


if __name__ == "__main__":
    app.studio.default_registry = sleepy_registry
    sys.exit(app.studio.main(sys.argv[1:]))
