"""Error codes and the one exception type that carries a human sentence to the artist."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_PARAMS = "INVALID_PARAMS"
    UNKNOWN_ADAPTER = "UNKNOWN_ADAPTER"
    NOT_ENOUGH_VRAM = "NOT_ENOUGH_VRAM"
    WORKER_CRASHED = "WORKER_CRASHED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    OUTPUT_INVALID = "OUTPUT_INVALID"
    ADAPTER_FAILED = "ADAPTER_FAILED"
    ENGINE_LOCKED = "ENGINE_LOCKED"
    DISK_FULL = "DISK_FULL"
    HISTORY_UNAVAILABLE = "HISTORY_UNAVAILABLE"
    ENGINE_STOPPED = "ENGINE_STOPPED"
    STORAGE = "STORAGE"  # a write the disk refused for another reason than space (read-only)


class MeshsmithError(Exception):
    """An error whose message is one sentence an artist can act on."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


class InvalidInput(MeshsmithError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_INPUT, message)
