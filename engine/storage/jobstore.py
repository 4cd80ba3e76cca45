"""SQLite (WAL) history of every job: spec, state, timings, result, error."""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import (
    ErrorInfo,
    Job,
    JobResult,
    JobSpec,
    JobState,
    PipelineTag,
    check_transition,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    feature TEXT NOT NULL,
    adapter TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
"""
log = logging.getLogger(__name__)

# Primary SQLite result codes (sqlite3.Error.sqlite_errorcode & 0xFF).
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED: another program holds the file
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


class _Damaged(sqlite3.DatabaseError):
    """The file opened but failed SQLite's own consistency check."""


class JobStore:
    """Thread-safe: one connection guarded by a lock; every change is its own transaction.

    A damaged history file is never fatal: it is moved aside as
    ``jobs.sqlite.corrupt-<timestamp>`` (kept, with its WAL) and a fresh one started;
    ``recovered_from`` names the backup and ``warning`` is the sentence to show. A file that
    another program holds locked is a MeshsmithError with one sentence. Readers that do not
    own the data directory (``recover=False``) never move the file: they get the sentence.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0, recover: bool = True,
                 owner: str = "") -> None:
        """``owner``: the engine id stamped on the rows this store adds or starts (ownership)."""
        self.path = path
        self.owner = owner
        self._lock = threading.Lock()
        self.recovered_from: Path | None = None
        self.warning: str | None = None
        try:
            self._db = self._open(busy_timeout_s)
        except sqlite3.DatabaseError as exc:
            if not recover and not _is_damage(exc) and path.is_file():
                # a reader of a read-only folder or file: read what is there, change nothing
                self._db, complete = _open_read_only(path, exc)
                wal = path.with_name(path.name + "-wal")
                if not complete and wal.is_file() and wal.stat().st_size > 0:
                    self.warning = ("The job history is read-only here, so its newest jobs "
                                    "(not yet folded into the main file) cannot be shown.")
                return
            if not (recover and _is_damage(exc)):
                raise _unavailable(path, exc) from exc
            log.error("the job history %s is damaged (%s)", path, exc)
            self.recovered_from = _set_aside(path)
            self.warning = (
                f"The job history was damaged, so Meshsmith started a new one and kept the old "
                f"file as {self.recovered_from.name}."
            )
            try:
                self._db = self._open(busy_timeout_s)
            except sqlite3.DatabaseError as again:
                raise _unavailable(path, again) from again

    def _open(self, busy_timeout_s: float) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False,
                             isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise _Damaged(f"quick_check: {verdict}")
            db.executescript(SCHEMA)
            _migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- writes ---------------------------------------------------------------------------
    def add(self, job_id: str, spec: JobSpec, created_at: float | None = None,
            pipeline: PipelineTag | None = None, user: str = "") -> Job:
        job = Job(job_id=job_id, spec=spec, created_at=created_at or time.time(),
                  pipeline=pipeline, user=user)
        with self._lock, self._writing():
            self._db.execute(
                "INSERT INTO jobs (job_id, feature, adapter, spec, state, created_at,"
                " pipeline_id, pipeline_step, pipeline_name, user_tag, engine_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, spec.feature, spec.adapter, spec.model_dump_json(), job.state.value,
                 job.created_at, pipeline.id if pipeline else None,
                 pipeline.step if pipeline else None, pipeline.name if pipeline else None,
                 user, self.owner),
            )
        return job

    def transition(
        self, job_id: str, new: JobState, *, result: JobResult | None = None,
        error: ErrorInfo | None = None, now: float | None = None,
    ) -> Job:
        """Move a job to ``new`` (checked against the transition table) and persist it."""
        now = now or time.time()
        with self._lock, self._writing():
            self._db.execute("BEGIN IMMEDIATE")
            row = self._row(job_id)
            check_transition(JobState(row["state"]), new)
            sets: dict[str, object] = {"state": new.value}
            if new is JobState.RUNNING:  # the engine that starts a job owns it
                sets.update(started_at=now, attempts=row["attempts"] + 1, engine_id=self.owner)
            if new.terminal:
                sets.update(finished_at=now,
                            result=result.model_dump_json() if result else None,
                            error=error.model_dump_json() if error else None)
            elif new is JobState.INTERRUPTED:  # the sentence that says how to resume it
                sets.update(error=error.model_dump_json() if error else None)
            elif new is JobState.QUEUED:
                sets.update(error=None, engine_id=self.owner)
            assignments = ", ".join(f"{k} = ?" for k in sets)
            self._db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?",
                             (*sets.values(), job_id))
            self._db.execute("COMMIT")
            return _to_job(self._row(job_id))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write: on any failure roll back only an open transaction (a failed COMMIT may
        already have ended it), and turn SQLite's and the disk's errors into one sentence."""
        try:
            yield
        except BaseException as exc:
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.error("could not roll back a failed write to %s", self.path)
            if isinstance(exc, sqlite3.Error | OSError):
                raise storage_error(self.path, exc) from None
            raise

    def owned(self, states: list[JobState], *, mine: bool) -> list[Job]:
        """Jobs in ``states`` this store's owner started (``mine``) or another engine did."""
        test = "=" if mine else "IS NOT"
        marks = ", ".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks}) AND engine_id {test} ?"
                " ORDER BY created_at, rowid", (*(s.value for s in states), self.owner),
            ).fetchall()
        return [_to_job(r) for r in rows]

    def delete(self, job_id: str) -> None:
        with self._lock, self._writing():
            self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    # ---- reads ----------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _to_job(row) if row else None

    def list(
        self, *, states: list[JobState] | None = None, feature: str | None = None,
        limit: int | None = None, newest_first: bool = True, pipeline_id: str | None = None,
        user: str | None = None, offset: int = 0,
    ) -> list[Job]:
        """``user``: only that user's jobs (the HTTP API's tag, Job.user); None: everyone's."""
        where, args = _where(states, feature, pipeline_id, user)
        sql = f"SELECT * FROM jobs{where}"
        sql += f" ORDER BY created_at {'DESC' if newest_first else 'ASC'}, rowid"
        if limit:
            sql += f" LIMIT {int(limit)} OFFSET {max(0, int(offset))}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_to_job(r) for r in rows]

    def count(self, *, states: list[JobState] | None = None, feature: str | None = None,
              user: str | None = None) -> int:
        where, args = _where(states, feature, None, user)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM jobs{where}", args).fetchone()[0])

    def uses_input(self, path: str) -> bool:
        """True when some job's spec names ``path`` as an input (so the file must stay)."""
        # as the spec's JSON spells it: quoted, escaped, non-ASCII letters kept as they are
        needle = json.dumps(path, ensure_ascii=False)
        with self._lock:
            row = self._db.execute("SELECT 1 FROM jobs WHERE instr(spec, ?) > 0 LIMIT 1",
                                   (needle,)).fetchone()
        return row is not None

    def output_of(self, job_id: str) -> str | None:
        """The primary output of a succeeded job (for ``job:<id>`` inputs)."""
        job = self.get(job_id)
        if job is None or job.state is not JobState.SUCCEEDED or job.result is None:
            return None
        return job.result.output_file_path

    def _row(self, job_id: str) -> sqlite3.Row:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id}")
        return row


def _where(states: list[JobState] | None, feature: str | None, pipeline_id: str | None,
           user: str | None) -> tuple[str, list]:
    clauses, args = [], []
    for column, value in (("pipeline_id", pipeline_id), ("feature", feature)):
        if value:
            clauses.append(f"{column} = ?")
            args.append(value)
    if user is not None:
        clauses.append("user_tag = ?")
        args.append(user)
    if states:
        clauses.append(f"state IN ({', '.join('?' * len(states))})")
        args.extend(s.value for s in states)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _open_read_only(path: Path, first: sqlite3.DatabaseError) -> tuple[sqlite3.Connection, bool]:
    """Read a history nobody may write here. ``mode=ro`` reads the write-ahead log's newest
    jobs too (it needs the log's index file); ``immutable=1``, the last resort, sees only
    what was checkpointed into the main file."""
    for query in ("mode=ro", "immutable=1"):
        try:
            db = sqlite3.connect(f"{path.as_uri()}?{query}", uri=True, check_same_thread=False)
        except sqlite3.DatabaseError:
            continue
        db.row_factory = sqlite3.Row
        try:
            db.execute("SELECT 1 FROM jobs LIMIT 1")
            columns = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
        except sqlite3.DatabaseError:
            db.close()
            continue
        if columns >= {c for c, _ in _ADDED_COLUMNS}:
            return db, query == "mode=ro"
        db.close()
    raise _unavailable(path, first) from first


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    if isinstance(exc, _Damaged):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    text = str(exc)
    return "not a database" in text or "malformed" in text


def _unavailable(path: Path, exc: sqlite3.DatabaseError) -> MeshsmithError:
    code = getattr(exc, "sqlite_errorcode", 0) or 0
    if code & 0xFF in _BUSY_CODES or "locked" in str(exc):
        return MeshsmithError(
            ErrorCode.ENGINE_LOCKED,
            f"The job history {path} is locked by another program; close it (a database "
            "browser or another studio) and start Meshsmith again.",
        )
    if _is_damage(exc):
        return MeshsmithError(ErrorCode.HISTORY_UNAVAILABLE,
                              f"The job history {path} is damaged; start the studio to set it "
                              "aside and begin a new one.")
    if code & 0xFF in (8, 13) or "readonly" in str(exc) or "disk is full" in str(exc):
        return storage_error(path, exc)
    return MeshsmithError(ErrorCode.HISTORY_UNAVAILABLE,
                          f"The job history {path} cannot be opened ({exc}).")


def storage_error(path: Path, exc: BaseException) -> MeshsmithError:
    """One sentence for a history write (or open) the disk refused: full, read-only, gone."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    text = str(exc)
    errno_ = getattr(exc, "errno", None)
    if code == 13 or errno_ in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text:
        return MeshsmithError(ErrorCode.DISK_FULL,
                              f"The disk holding {path.parent} is full, so the job history "
                              "could not be written; free some space and try again.")
    if code == 8 or errno_ in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text:
        return MeshsmithError(ErrorCode.STORAGE,
                              f"The job history {path} cannot be written (the file or its "
                              "folder is read-only); make it writable or set MESHSMITH_HOME "
                              "to another folder.")
    reason = getattr(exc, "strerror", None) or text
    return MeshsmithError(ErrorCode.STORAGE,
                          f"The job history {path} could not be written ({reason}).")


def _set_aside(path: Path) -> Path:
    """Move a damaged database (and its WAL and index files) to a timestamped backup name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, backup)
    for suffix in ("-wal", "-shm"):  # SQLite finds a WAL by name: keep them paired
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, backup.with_name(backup.name + suffix))
    return backup


# Columns added after the first release: (name, SQL type). Older files gain them on open.
_ADDED_COLUMNS = (("pipeline_id", "TEXT"), ("pipeline_step", "INTEGER"), ("pipeline_name", "TEXT"),
                  ("user_tag", "TEXT NOT NULL DEFAULT ''"), ("engine_id", "TEXT"))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older jobs table up to date; every added column is nullable or has a default,
    so old rows (and older Meshsmith versions reading this file) keep working."""
    present = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    for name, kind in _ADDED_COLUMNS:
        if name not in present:
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_pipeline ON jobs(pipeline_id)")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user_tag)")


def _pipeline(row: sqlite3.Row) -> PipelineTag | None:
    if row["pipeline_id"] is None:
        return None
    return PipelineTag(id=row["pipeline_id"], step=row["pipeline_step"] or 0,
                       name=row["pipeline_name"] or "")


def _to_job(row: sqlite3.Row) -> Job:
    return Job(
        job_id=row["job_id"],
        spec=JobSpec.model_validate_json(row["spec"]),
        state=JobState(row["state"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
        result=JobResult.model_validate(json.loads(row["result"])) if row["result"] else None,
        error=ErrorInfo.model_validate(json.loads(row["error"])) if row["error"] else None,
        pipeline=_pipeline(row),
        user=row["user_tag"] or "",
    )
