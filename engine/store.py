"""SQLite (WAL) history of every job: spec, state, timings, result, error."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from engine.errors import ErrorCode
from engine.jobs import ErrorInfo, Job, JobResult, JobSpec, JobState, check_transition

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
MAX_ATTEMPTS = 2  # the first run plus one retry after an interruption


class JobStore:
    """Thread-safe: one connection guarded by a lock; every change is its own transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- writes ---------------------------------------------------------------------------
    def add(self, job_id: str, spec: JobSpec, created_at: float | None = None) -> Job:
        job = Job(job_id=job_id, spec=spec, created_at=created_at or time.time())
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (job_id, feature, adapter, spec, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, spec.feature, spec.adapter, spec.model_dump_json(), job.state.value,
                 job.created_at),
            )
        return job

    def transition(
        self, job_id: str, new: JobState, *, result: JobResult | None = None,
        error: ErrorInfo | None = None, now: float | None = None,
    ) -> Job:
        """Move a job to ``new`` (checked against the transition table) and persist it."""
        now = now or time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._row(job_id)
                check_transition(JobState(row["state"]), new)
                sets = {"state": new.value}
                if new is JobState.RUNNING:
                    sets.update(started_at=now, attempts=row["attempts"] + 1)
                if new.terminal:
                    sets.update(finished_at=now,
                                result=result.model_dump_json() if result else None,
                                error=error.model_dump_json() if error else None)
                assignments = ", ".join(f"{k} = ?" for k in sets)
                self._db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?",
                                 (*sets.values(), job_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return _to_job(self._row(job_id))

    def recover(self) -> list[Job]:
        """After a crash: running jobs become interrupted, then queued once more or failed.

        Returns every job that should be queued again, oldest first.
        """
        for job in self.list(states=[JobState.RUNNING]):
            self.transition(job.job_id, JobState.INTERRUPTED)
            if job.attempts >= MAX_ATTEMPTS:
                self.transition(job.job_id, JobState.FAILED, error=ErrorInfo(
                    code=ErrorCode.INTERRUPTED,
                    message="The studio stopped twice while this job ran, so it was not retried.",
                ))
            else:
                self.transition(job.job_id, JobState.QUEUED)
        return self.list(states=[JobState.QUEUED], newest_first=False)

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    # ---- reads ----------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _to_job(row) if row else None

    def list(
        self, *, states: list[JobState] | None = None, feature: str | None = None,
        limit: int | None = None, newest_first: bool = True,
    ) -> list[Job]:
        clauses, args = [], []
        if states:
            clauses.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(s.value for s in states)
        if feature:
            clauses.append("feature = ?")
            args.append(feature)
        sql = "SELECT * FROM jobs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY created_at {'DESC' if newest_first else 'ASC'}, rowid"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_to_job(r) for r in rows]

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
    )
