"""How a server is set up: where it listens, who may use it, what it may read."""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ErrorCode, MeshsmithError

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7842


def is_loopback(host: str) -> bool:
    """True only for addresses no other machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name could resolve to anything: treat it as reachable


@dataclass(frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Sign-in: None follows the host (off on loopback, on anywhere else); True forces it on.
    # Off is refused for a host other machines can reach.
    auth: bool | None = None
    # ``*_path`` inputs are read only inside this folder; None turns them off.
    path_root: Path | None = None
    cors_origins: tuple[str, ...] = ()  # none: browsers on other origins are refused
    open_registration: bool = False  # anyone may register (as a plain user)
    access_ttl_s: float = 15 * 60
    refresh_ttl_s: float = 7 * 24 * 3600
    max_body_bytes: int = 512 * 1024**2  # uploads and base64 bodies; more is a 413
    login_max_failures: int = 5
    login_window_s: float = 10 * 60

    @property
    def auth_required(self) -> bool:
        return bool(self.auth) or not is_loopback(self.host)

    def check(self) -> None:
        """Refuse a setup that would open the engine to the network without sign-in."""
        if self.auth is False and not is_loopback(self.host):
            raise ValueError(f"Sign-in cannot be turned off on {self.host}: other machines "
                             "can reach it; serve on 127.0.0.1 or keep sign-in on.")
        if self.path_root is not None and not self.path_root.is_dir():
            raise ValueError(f"The folder for path inputs, {self.path_root}, does not exist.")


def add_command(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the HTTP API on this engine (docs/api.md)")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help="address to listen on (default 127.0.0.1; any other needs sign-in)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--auth", action="store_true",
                       help="require sign-in on loopback too (always on for other hosts)")
    serve.add_argument("--allow-path", type=Path, metavar="DIR",
                       help="accept *_path inputs inside DIR (off by default)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="let browser pages from ORIGIN call the API (repeatable)")
    serve.add_argument("--open-registration", action="store_true",
                       help="anyone who reaches the server may register as a user")


def config_from(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig(
        host=args.host, port=args.port, auth=True if args.auth else None,
        path_root=args.allow_path.expanduser().resolve() if args.allow_path else None,
        cors_origins=tuple(args.cors_origin), open_registration=args.open_registration)
    try:
        config.check()
    except ValueError as exc:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, str(exc)) from None
    return config
