"""Passwords (argon2), signed short-lived tokens, and the brake on failed sign-ins."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id with the library's current recommended costs
# A hash to check against when the user does not exist: the answer takes as long as for a
# real one, so timing does not tell which names are registered.
_DUMMY_HASH = _HASHER.hash("meshsmith: no such user")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def refresh_hash(token: str) -> str:
    """Refresh tokens are stored hashed: a copy of the database signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """``ms1.<claims>.<HMAC-SHA256>``: claims are JSON with ``exp`` (Unix seconds)."""

    PREFIX = "ms1"

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, claims: dict[str, Any], ttl_s: float, now: float | None = None) -> str:
        body = _b64(json.dumps({**claims, "exp": (now or time.time()) + ttl_s}).encode())
        return f"{self.PREFIX}.{body}.{self._sign(body)}"

    def verify(self, token: str, now: float | None = None) -> dict[str, Any] | None:
        """The claims of a genuine, unexpired token; None for anything else."""
        prefix, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        if prefix != self.PREFIX or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(claims, dict) or float(claims.get("exp", 0)) <= (now or time.time()):
            return None
        return claims

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


class LoginThrottle:
    """At most ``max_failures`` failed sign-ins per key (a name, a client address) within
    ``window_s``; then that key waits until its oldest failure leaves the window."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str, now: float | None = None) -> float:
        """Seconds to wait before another try; 0 when one is allowed."""
        now = now or time.monotonic()
        with self._lock:
            waits = [self._wait(key, now) for key in keys]
        return max(waits, default=0.0)

    def failed(self, *keys: str, now: float | None = None) -> None:
        now = now or time.monotonic()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _wait(self, key: str, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]  # forgotten, so the table does not grow without end
            return 0.0
        if len(times) < self.max_failures:
            return 0.0
        return times[0] + self.window_s - now
