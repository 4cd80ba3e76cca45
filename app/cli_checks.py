"""What the command line checks before a job is recorded, and how it stops on a signal.

Every check here runs before the engine starts: a failure is one sentence, exit 2, and no
job in the history. Parameters go through the adapter's own check (AdapterSpec.parse_params,
engine.contract.param_checks), the same one the engine and the worker use.
"""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from engine.contract.spec import Registry
from engine.errors import ErrorCode, MeshsmithError

T = TypeVar("T")

_SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that is not JSON is a string."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise MeshsmithError(ErrorCode.INVALID_PARAMS,
                                 f"--param needs KEY=VALUE, but got {pair!r}.")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw  # a bare word is a string
        except RecursionError:
            raise MeshsmithError(ErrorCode.INVALID_PARAMS,
                                 f"--param {key.strip()} nests too deeply.") from None
    return params


def check_params(registry: Registry, feature: str, adapter: str | None,
                 params: dict[str, Any]) -> None:
    registry.find(feature, adapter).parse_params(params)


def check_out_folder(folder: str | None) -> None:
    """``--out``: a folder that exists or can be made, and that takes a file."""
    if folder is None:
        return
    if not folder.strip():
        raise MeshsmithError(ErrorCode.INVALID_INPUT, "--out needs a folder name; it was empty.")
    target = Path(folder).expanduser().absolute()
    if any(target == s or s in target.parents for s in _SYSTEM_FOLDERS):
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"--out {folder} is a system folder, not a place for outputs.")
    if target.exists() and not target.is_dir():
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"--out {folder} is a file, not a folder.")
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"--out {folder} cannot be made: {existing} is a file.")
    try:  # the real test: can a file be written there (read-only mounts, permissions)
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".meshsmith-out-"):
            pass
    except OSError as exc:
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"--out {folder} cannot be written ({exc.strerror or exc}).") from None


def stop_on_sigterm() -> None:
    """SIGTERM stops a run the way Ctrl+C does: the job is cancelled and recorded so."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, interrupt)


SIGNAL_CHECK_S = 0.25


def _in_slices(wait: Callable[[float | None], T]) -> T:
    """``wait(None)`` in short slices. The kernel may hand a process's Ctrl+C to any of its
    threads; Python then runs the handler only when the main thread next runs Python code,
    and a main thread blocked on a lock would not until the job ended (the cancel then came
    too late: the job had finished)."""
    while True:
        try:
            return wait(SIGNAL_CHECK_S)
        except TimeoutError:
            continue


def wait_or_cancel(wait: Callable[[float | None], T], cancel: Callable[[], None],
                   grace_s: float) -> T:
    """``wait(None)`` for a job or a pipeline; Ctrl+C or SIGTERM cancels it and waits for the
    cancel to be recorded. A second signal, or a cancel that does not end within the grace
    period and ten seconds, stops at once: the engine's shutdown then records the work as
    interrupted (never running)."""
    try:
        return _in_slices(wait)
    except KeyboardInterrupt:
        cancel()
        try:
            return wait(grace_s + 10)
        except TimeoutError:
            raise KeyboardInterrupt from None
