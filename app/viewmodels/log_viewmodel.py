"""The log panel's state: the JSON-lines logs under ``logs/``, followed as they grow.

Reading is incremental and off the GUI thread: ``LogTail`` remembers, per file, how many bytes
it has consumed and reads only what was appended since (a line still being written waits in
memory for its newline), so a 500 MB log costs one bounded backlog read at start and then only
its new bytes. A ``QFileSystemWatcher`` and the bridge's ``job_updated`` say when to look:
nothing polls.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QFileSystemWatcher,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor
from qasync import asyncSlot

from app.viewmodels.list_table_model import AnyIndex, ListTableModel

if TYPE_CHECKING:
    from app.bridge import EngineBridge

LEVELS = ("debug", "info", "warning", "error", "critical")
_RANK = {name: 10 * (i + 1) for i, name in enumerate(LEVELS)}  # logging's numbers
COLUMNS = ("Time", "Level", "Source", "Job", "Message")
# module paths in plain words; the first matching prefix wins, the full name is the tooltip
_SOURCES = (("engine.workers", "worker"), ("engine.runtime", "engine"),
            ("engine.scheduling", "scheduler"), ("engine.storage", "storage"),
            ("engine.meshio", "files"), ("engine.export", "export"),
            ("engine.pipelines", "recipe"), ("adapters", "adapter"), ("app.server", "HTTP API"),
            ("app", "studio"))
TIME, LEVEL, LOGGER, JOB, MESSAGE = range(len(COLUMNS))
ALL = ""  # the job filter value that lets every line through
# mid-tone colours that read on dark and light palettes alike
_LEVEL_COLOURS = {"warning": QColor(214, 160, 40), "error": QColor(226, 88, 80),
                  "critical": QColor(226, 88, 80)}
_MAX_LINE_BYTES = 1 << 20  # a "line" longer than this is runaway output, not a log record



@dataclass(frozen=True)
class LogEntry:
    ts: float
    level: str
    logger: str
    message: str
    job_id: str = ""
    detail: str = ""  # the traceback, when there is one

    @property
    def rank(self) -> int:
        return _RANK.get(self.level, _RANK["info"])


def parse_line(line: bytes) -> LogEntry | None:
    """One JSON log line as an entry; None for anything else (a line cut by a crash)."""
    try:
        record = json.loads(line)
        ts = float(record.get("ts", 0.0))
    except (ValueError, TypeError, AttributeError):  # bad JSON or UTF-8, not an object
        return None
    return LogEntry(ts=ts, level=str(record.get("level", "info")).lower(),
                    logger=str(record.get("logger", "")), message=str(record.get("message", "")),
                    job_id=str(record.get("job_id") or ""),
                    detail=str(record.get("traceback") or ""))


@dataclass
class _FileState:
    inode: int
    offset: int = 0  # bytes consumed from the file
    pending: bytes = b""  # the start of a line whose newline has not been written yet
    resync: bool = False  # started mid-file: drop everything up to the first newline


@dataclass
class LogBatch:
    entries: list[LogEntry]
    paths: list[str]  # every file followed so far
    more: bool  # a file has unread bytes past this batch's chunk


@dataclass
class LogTail:
    """Follows every ``*.jsonl`` in ``folder``, reading each byte once.

    At the first look only the ``backlog_files`` newest files are read, and only their last
    ``backlog_bytes``; files that appear later are read from their start. One reader at a time.
    """

    folder: Path
    backlog_bytes: int = 2 << 20
    backlog_files: int = 3
    chunk_bytes: int = 4 << 20
    bytes_read: int = 0  # every byte taken from disk, for tests and diagnostics
    _files: dict[Path, _FileState] = field(default_factory=dict)
    _started: bool = False

    def read_new(self) -> LogBatch:
        paths = self._scan()
        entries: list[LogEntry] = []
        more = False
        for path in paths:
            try:
                new, unread = self._read(path)
            except OSError:
                continue  # removed or unreadable since the scan; the next look tries again
            entries += new
            more |= unread
        entries.sort(key=lambda e: e.ts)  # the engine and its workers write different files
        return LogBatch(entries, [str(p) for p in self._files], more)

    def _scan(self) -> list[Path]:
        try:
            found = sorted(self.folder.glob("*.jsonl"), key=_mtime, reverse=True)
        except OSError:
            return []
        if not self._started:
            self._started = True
            for i, path in enumerate(found):
                self._files[path] = self._backlog_start(path, keep=i < self.backlog_files)
        return found

    def _backlog_start(self, path: Path, keep: bool) -> _FileState:
        stat = path.stat()
        if not keep:
            return _FileState(stat.st_ino, stat.st_size)
        start = max(0, stat.st_size - self.backlog_bytes)
        return _FileState(stat.st_ino, start, resync=start > 0)

    def _read(self, path: Path) -> tuple[list[LogEntry], bool]:
        stat = path.stat()
        state = self._files.get(path)
        if state is None or state.inode != stat.st_ino or stat.st_size < state.offset:
            state = self._files[path] = _FileState(stat.st_ino)  # new, replaced or truncated
        if stat.st_size == state.offset:
            return [], False
        with path.open("rb") as handle:
            handle.seek(state.offset)
            data = handle.read(min(self.chunk_bytes, stat.st_size - state.offset))
        state.offset += len(data)
        self.bytes_read += len(data)
        lines = (state.pending + data).split(b"\n")
        state.pending = lines.pop()
        if state.resync and lines:
            lines, state.resync = lines[1:], False
        if len(state.pending) > _MAX_LINE_BYTES:
            state.pending, state.resync = b"", True
        entries = [entry for entry in map(parse_line, lines) if entry is not None]
        return entries, stat.st_size > state.offset


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class LogModel(ListTableModel):
    """Log entries in arrival order, capped at ``max_entries`` (the oldest go first)."""

    columns = COLUMNS

    def row_list(self) -> list:
        return self._entries


    def __init__(self, max_entries: int = 50_000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_entries = max_entries
        self._entries: list[LogEntry] = []

    def append(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        entries = entries[-self.max_entries:]
        overflow = len(self._entries) + len(entries) - self.max_entries
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self._entries[:overflow]
            self.endRemoveRows()
        first = len(self._entries)
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        self._entries += entries
        self.endInsertRows()

    def entry(self, row: int) -> LogEntry:
        return self._entries[row]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(entry, index.column())
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == MESSAGE:
            return "\n".join(filter(None, (entry.message, entry.detail)))
        if role == Qt.ItemDataRole.ForegroundRole:
            return _LEVEL_COLOURS.get(entry.level)
        if role == Qt.ItemDataRole.UserRole:
            return entry
        return None


def source_name(logger: str) -> str:
    """``engine.workers.pool`` -> "worker": where a line came from, for an artist."""
    return next((word for prefix, word in _SOURCES
                 if logger == prefix or logger.startswith(prefix + ".")), logger)


def _display(entry: LogEntry, column: int) -> str:
    if column == TIME:
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.ts))
        return f"{stamp}.{int(entry.ts % 1 * 1000):03d}"
    if column == LEVEL:
        return entry.level
    if column == LOGGER:
        return source_name(entry.logger)
    if column == JOB:
        return entry.job_id
    return entry.message.splitlines()[0] if entry.message else ""


class LogFilter(QSortFilterProxyModel):
    """Lines at or above a minimum level, from one job or all."""

    def __init__(self, min_level: str = "info", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._min_rank = _RANK[min_level]
        self._job_id = ALL
        self._words: tuple[str, ...] = ()

    def set_min_level(self, level: str) -> None:
        self.beginFilterChange()
        self._min_rank = _RANK[level]
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_job(self, job_id: str) -> None:
        self.beginFilterChange()
        self._job_id = job_id
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        """Lines holding every word of ``text`` (any case); "" for all."""
        self.beginFilterChange()
        self._words = tuple(text.lower().split())
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        entry = self.sourceModel().entry(source_row)  # type: ignore[attr-defined]
        if entry.rank < self._min_rank or (self._job_id and entry.job_id != self._job_id):
            return False
        text = f"{entry.message} {entry.job_id}".lower() if self._words else ""
        return all(word in text for word in self._words)


class LogViewModel(QObject):
    """``proxy`` is what a view shows; ``model`` holds every entry kept."""

    entries_read = Signal(int)  # after every read: how many new entries it found
    job_ids_changed = Signal(list)  # the job ids seen so far, oldest first
    error_raised = Signal(str)

    levels: tuple[str, ...] = LEVELS

    def __init__(
        self, bridge: EngineBridge | None, parent: QObject | None = None, *,
        logs_dir: Path | None = None, min_level: str = "info", max_entries: int = 50_000,
    ) -> None:
        """Follows ``logs_dir`` (default: the engine's ``data.logs``); ``bridge`` may be None
        when a folder is all there is (a log viewer without an engine, tests)."""
        super().__init__(parent)
        if logs_dir is None:
            if bridge is None:
                raise ValueError("LogViewModel needs a bridge or a logs folder.")
            logs_dir = bridge.engine.data.logs
        logs_dir.mkdir(parents=True, exist_ok=True)  # something to watch before the first log
        self.tail = LogTail(logs_dir)
        self.model = LogModel(max_entries, self)
        self.proxy = LogFilter(min_level, self)
        self.proxy.setSourceModel(self.model)
        self.job_ids: list[str] = []
        self._reading = self._again = self._closed = False
        self._watcher = QFileSystemWatcher([str(logs_dir)], self)
        # a folder watch sees files come and go; appends need a watch on each file
        self._watcher.directoryChanged.connect(self._on_watcher_changed)
        self._watcher.fileChanged.connect(self._on_watcher_changed)
        if bridge is not None:
            bridge.job_updated.connect(self._on_bridge_job_updated)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Read what was appended since the last read (at most one read in flight)."""
        if self._closed:
            return
        if self._reading:
            self._again = True  # bursts of file events collapse into one more read
            return
        self._reading = True
        self._read()

    @asyncSlot()
    async def _read(self) -> None:
        """Await one read of the log files on an executor thread (docs/async.md)."""
        try:
            batch = await asyncio.get_running_loop().run_in_executor(None, self.tail.read_new)
        except Exception as exc:  # every failure becomes a sentence
            self._on_reader_errored(exc)
            return
        self._on_reader_returned(batch)

    @Slot(str)
    def set_min_level(self, level: str) -> None:
        self.proxy.set_min_level(level)

    @Slot(str)
    def set_job_filter(self, job_id: str) -> None:
        self.proxy.set_job(job_id)

    @Slot(str)
    def set_text_filter(self, text: str) -> None:
        self.proxy.set_text(text)

    def close(self) -> None:
        """Stop following: no more reads, no more watches."""
        self._closed = True
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)

    @Slot(str)
    def _on_watcher_changed(self, _path: str) -> None:
        self.refresh()

    @Slot(object)
    def _on_bridge_job_updated(self, _job: object) -> None:
        self.refresh()

    @Slot(object)
    def _on_reader_returned(self, batch: LogBatch) -> None:
        self._reading = False
        if self._closed:
            return
        unwatched = sorted(set(batch.paths) - set(self._watcher.files()))
        if unwatched:
            self._watcher.addPaths(unwatched)
        self.model.append(batch.entries)
        seen = set(self.job_ids)
        fresh = list(dict.fromkeys(e.job_id for e in batch.entries
                                   if e.job_id and e.job_id not in seen))
        if fresh:
            self.job_ids += fresh
            self.job_ids_changed.emit(list(self.job_ids))
        self.entries_read.emit(len(batch.entries))
        if batch.more or self._again:
            self._again = False
            self.refresh()

    @Slot(object)
    def _on_reader_errored(self, exc: Exception) -> None:
        self._reading = False
        self.error_raised.emit(f"The log could not be read: {exc}.")
