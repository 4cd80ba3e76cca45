"""One studio per machine, on the Qt side: a second launch hands its files to the running
studio and exits; the running studio serves later launches (engine.runtime.instance) and shows what
they hand it.

The server's threads must not touch widgets, so forwarded paths cross to the GUI thread as a
queued Qt signal.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.runtime.engine import Engine
from engine.runtime.instance import InstanceServer
from engine.runtime.instance_client import hand_off
from engine.storage.paths import DataDir

# While a studio starts, it holds the engine lock a moment before it listens: a launch in
# that moment waits this long for it rather than refusing.
STARTING_STUDIO_WAIT_S = 5.0


class ForwardedFiles(QObject):
    """Lives on the GUI thread; ``received`` is emitted from the server's thread."""

    received = Signal(list)  # absolute paths (empty: just come to the front)


def serve_studio(window: Any, engine: Engine, pipelines: Any = None) -> InstanceServer:
    """Listen for later launches; their files go to ``window.open_forwarded``."""
    relay = ForwardedFiles(window)  # parented: it lives exactly as long as the window
    relay.received.connect(window.open_forwarded)
    return InstanceServer(engine, on_open=relay.received.emit, pipelines=pipelines).start()


def hand_to_running_studio(paths: list[Path | str], *, wait_s: float = 0.0) -> bool:
    """Give ``paths`` to the studio already running on this data directory; True if one
    took them (then this launch should exit). ``wait_s`` covers a studio still starting."""
    data = DataDir.default()
    deadline = time.monotonic() + wait_s
    while True:
        pid = hand_off(data, [str(p) for p in paths])
        if pid is not None:
            what = (f"{len(paths)} file(s) to" if paths else "a wake-up call to")
            print(f"meshsmith: handed {what} the studio already running (process {pid}).",
                  file=sys.stderr)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)  # start-up only, bounded by wait_s: the other studio is coming up
