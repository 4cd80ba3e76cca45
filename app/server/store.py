"""The server's own tables in the data directory's SQLite file: users, refresh tokens,
uploads and the token-signing key. The engine's ``jobs`` table lives beside them
(engine.storage.jobstore); each side opens its own connection (WAL lets them share the file).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user',
    created_at REAL NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    file_id TEXT PRIMARY KEY,
    user_tag TEXT NOT NULL,
    filename TEXT NOT NULL,
    file_type TEXT NOT NULL,
    path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    upload_time REAL NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS uploads_user ON uploads(user_tag, upload_time);
CREATE TABLE IF NOT EXISTS server_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp else None


@dataclass(frozen=True)
class User:
    user_id: str
    username: str
    email: str
    role: str  # "admin" | "user"
    created_at: float
    is_active: bool = True

    def public(self) -> dict[str, Any]:
        """The reviewed server's public user shape (never the password hash)."""
        return {**asdict(self), "created_at": iso(self.created_at)}


@dataclass(frozen=True)
class Upload:
    file_id: str
    user_tag: str
    filename: str
    file_type: str  # "image" | "mesh"
    path: str  # the staged copy under inputs/
    size_bytes: int
    upload_time: float

    @property
    def size_mb(self) -> float:
        return round(self.size_bytes / 2**20, 3)


class ServerStore:
    """Thread-safe: one connection guarded by a lock, every change its own transaction."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _run(self, sql: str, *args: Any) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # ---- the signing key ----------------------------------------------------------------------
    def signing_key(self) -> bytes:
        """Made once per data directory, so tokens survive a restart of the server."""
        fresh = secrets.token_hex(32)
        self._run("INSERT OR IGNORE INTO server_settings (key, value) VALUES ('token_key', ?)",
                  fresh)
        return bytes.fromhex(self._one("SELECT value FROM server_settings WHERE key = "
                                       "'token_key'")["value"])

    # ---- users --------------------------------------------------------------------------------
    def add_user(self, username: str, email: str, password_hash: str, role: str) -> User | None:
        """None when the name is taken (names compare without case)."""
        user = User(f"user_{uuid.uuid4().hex[:12]}", username, email, role, time.time())
        try:
            self._run("INSERT INTO users (user_id, username, email, password_hash, role,"
                      " created_at) VALUES (?, ?, ?, ?, ?, ?)", user.user_id, username, email,
                      password_hash, role, user.created_at)
        except sqlite3.IntegrityError:
            return None
        return user

    def user_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM users")[0])

    def find_user(self, username: str) -> tuple[User, str] | None:
        """The user and their password hash."""
        row = self._one("SELECT * FROM users WHERE username = ?", username)
        return (_user(row), row["password_hash"]) if row else None

    def user(self, user_id: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE user_id = ?", user_id)
        return _user(row) if row else None

    # ---- refresh tokens (stored hashed, used once) ---------------------------------------------
    def add_refresh(self, token_hash: str, user_id: str, expires_at: float) -> None:
        self._run("DELETE FROM refresh_tokens WHERE expires_at < ?", time.time())
        self._run("INSERT INTO refresh_tokens VALUES (?, ?, ?)", token_hash, user_id, expires_at)

    def take_refresh(self, token_hash: str) -> str | None:
        """The user id a live refresh token belongs to; the token is spent either way."""
        with self._lock:
            row = self._db.execute("DELETE FROM refresh_tokens WHERE token_hash = ? "
                                   "RETURNING user_id, expires_at", (token_hash,)).fetchone()
        return row["user_id"] if row and row["expires_at"] > time.time() else None

    # ---- uploads ------------------------------------------------------------------------------
    def add_upload(self, user_tag: str, filename: str, file_type: str, path: str,
                   size_bytes: int) -> Upload:
        upload = Upload(uuid.uuid4().hex, user_tag, filename, file_type, path, size_bytes,
                        time.time())
        self._run("INSERT INTO uploads (file_id, user_tag, filename, file_type, path,"
                  " size_bytes, upload_time) VALUES (?, ?, ?, ?, ?, ?, ?)", upload.file_id,
                  user_tag, filename, file_type, path, size_bytes, upload.upload_time)
        return upload

    def upload(self, file_id: str, user_tag: str | None) -> Upload | None:
        """An upload that was not deleted; ``user_tag`` None: anyone's (an admin asks)."""
        row = self._one("SELECT * FROM uploads WHERE file_id = ? AND deleted = 0", file_id)
        if row is None or (user_tag is not None and row["user_tag"] != user_tag):
            return None
        return _upload(row)

    def uploads(self, user_tag: str | None, file_type: str | None,
                limit: int) -> tuple[list[Upload], int]:
        """Newest first, and how many there are in all."""
        where, args = "deleted = 0", []
        for column, value in (("user_tag", user_tag), ("file_type", file_type)):
            if value is not None:
                where += f" AND {column} = ?"
                args.append(value)
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM uploads WHERE {where} ORDER BY "
                                    "upload_time DESC LIMIT ?", (*args, limit)).fetchall()
            total = self._db.execute(f"SELECT COUNT(*) FROM uploads WHERE {where}",
                                     args).fetchone()[0]
        return [_upload(r) for r in rows], int(total)

    def delete_upload(self, file_id: str) -> None:
        self._run("UPDATE uploads SET deleted = 1 WHERE file_id = ?", file_id)

    def path_in_use(self, path: str) -> bool:
        """Another live upload shares this staged file (same content)."""
        return self._one("SELECT 1 FROM uploads WHERE path = ? AND deleted = 0 LIMIT 1",
                         path) is not None


def _user(row: sqlite3.Row) -> User:
    return User(row["user_id"], row["username"], row["email"], row["role"], row["created_at"],
                bool(row["is_active"]))


def _upload(row: sqlite3.Row) -> Upload:
    return Upload(row["file_id"], row["user_tag"], row["filename"], row["file_type"],
                  row["path"], row["size_bytes"], row["upload_time"])
