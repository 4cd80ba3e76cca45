"""The engine's structured logs (engine.storage.logs), read as JSON: no text parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.server.errors import ApiError
from engine.storage.logs import read_log


def recent_logs(logs_dir: Path, lines: int, level: str | None, logger_name: str | None,
                since: str | None) -> dict[str, Any]:
    """The newest ``lines`` entries that pass the filters, from the newest files back."""
    files = sorted(logs_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    after = _timestamp(since)
    wanted = level.lower() if level else None
    entries: list[dict[str, Any]] = []
    for path in files:
        kept = [_shape(e, path) for e in read_log(path) if _passes(e, wanted, logger_name, after)]
        entries = kept + entries
        if len(entries) >= lines:
            break
    entries.sort(key=lambda e: e["ts"])
    return {"logs": entries[-lines:], "total_entries": min(lines, len(entries)),
            "file": files[0].name if files else None,
            "available_files": [p.name for p in files],
            "filters_applied": {"lines": lines, "level": level, "logger_name": logger_name,
                                "since": since}}


def _passes(entry: dict[str, Any], level: str | None, logger_name: str | None,
            after: float | None) -> bool:
    if level is not None and entry.get("level") != level:
        return False
    if logger_name and logger_name not in str(entry.get("logger", "")):
        return False
    return after is None or float(entry.get("ts", 0)) >= after


def _shape(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    """The reviewed server's entry keys around the structured entry itself."""
    ts = float(entry.get("ts", 0))
    return {**entry, "ts": ts, "timestamp": datetime.fromtimestamp(ts, UTC).isoformat(),
            "level": str(entry.get("level", "info")).upper(), "file": path.name}


def _timestamp(since: str | None) -> float | None:
    if not since:
        return None
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "INVALID_VALUE", f"since must be an ISO time such as "
                       f"2025-01-31T12:00:00Z, not {since!r}.") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
