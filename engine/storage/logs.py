"""Structured logs: one JSON object per line under ``logs/``, read back by the log panel."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _LogFile(logging.FileHandler):
    """A log line the disk refuses (full, read-only) is dropped and counted, never a
    traceback on the artist's terminal: the log is the one write that must not shout."""

    dropped = 0

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped += 1
        if self.stream is not None:
            # what the full disk refused stays buffered: drop it (closing still frees the
            # file even when its last flush fails), and the next record reopens the file
            try:
                self.stream.close()
            except OSError:
                pass
            self.stream = None


def setup_json_logging(path: Path, level: int = logging.INFO) -> logging.Handler:
    """Send the ``meshsmith`` loggers (and our modules') to ``path`` as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _LogFile(path, encoding="utf-8")
    handler.setFormatter(JsonLineFormatter())
    handler.setLevel(level)
    for name in ("meshsmith", "engine", "adapters", "app"):
        logger = logging.getLogger(name)
        logger.setLevel(min(level, logger.level or level))
        logger.addHandler(handler)
    return handler


def remove_handler(handler: logging.Handler) -> None:
    for name in ("meshsmith", "engine", "adapters", "app"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def read_log(path: Path, *, limit: int = 10_000) -> list[dict[str, Any]]:
    """The last ``limit`` entries of a JSON-lines log; lines that are not JSON are skipped."""
    if not path.exists():
        return []
    entries = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write
    return entries[-limit:]


def log_path(logs_dir: Path) -> Path:
    return logs_dir / f"engine-{time.strftime('%Y%m%d')}-{os.getpid()}.jsonl"
