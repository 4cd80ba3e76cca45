"""``python -m tests.app.sleepy_studio``: the real studio (``main.py``) with the fake sleepy
adapter registered too (the registry ``cli_with_fakes`` gives the CLI), so a test can start a
job that runs as long as it likes."""

from __future__ import annotations

import sys

import app.studio
from tests.app.cli_with_fakes import registry

if __name__ == "__main__":
    app.studio.default_registry = registry
    sys.exit(app.studio.main(sys.argv[1:]))
