"""Who is asking: sign-in routes and the ``caller`` dependency every other route uses.

Sign-in is off on loopback by default (the caller is then the local "api" user, who sees
everything) and required whenever the server is reachable from other machines. Registering
issues no token; signing in issues a short-lived access token and a refresh token that is
spent on use. Failed sign-ins are braked per name and per client address.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from app.server.config import ServerConfig, is_loopback
from app.server.errors import ApiError
from app.server.security import (
    LoginThrottle,
    TokenSigner,
    hash_password,
    refresh_hash,
    verify_password,
)
from app.server.store import ServerStore, User

ANONYMOUS = "api"  # the user tag of jobs sent while sign-in is off
_RESERVED = {ANONYMOUS, "admin", "studio", "local"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}")


@dataclass(frozen=True)
class Caller:
    """The one asking: ``name`` tags their jobs and uploads."""

    user_id: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def owns(self, tag: str) -> bool:
        return self.is_admin or tag == self.name

    @property
    def scope(self) -> str | None:
        """The user tag to filter lists by; None: everyone's (an admin)."""
        return None if self.is_admin else self.name


LOCAL_CALLER = Caller(user_id="", name=ANONYMOUS, role="admin")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(_Strict):
    username: str = Field(max_length=64)
    email: str = Field("", max_length=254)
    password: str = Field(min_length=8, max_length=1024)
    role: str = Field("user", pattern="^(user|admin)$", description="only an admin may set it")


class LoginRequest(_Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class RefreshRequest(_Strict):
    refresh_token: str = Field(max_length=256)


@dataclass
class AuthState:
    """The server's sign-in machinery, kept on ``app.state.auth``."""

    config: ServerConfig
    store: ServerStore
    signer: TokenSigner
    throttle: LoginThrottle
    registering: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, config: ServerConfig, store: ServerStore) -> AuthState:
        return cls(config, store, TokenSigner(store.signing_key()),
                   LoginThrottle(config.login_max_failures, config.login_window_s))

    def tokens(self, user: User) -> dict[str, Any]:
        """A fresh access token and a fresh refresh token (stored hashed)."""
        access = self.signer.issue({"sub": user.user_id, "name": user.username,
                                    "role": user.role, "kind": "access"},
                                   self.config.access_ttl_s)
        refresh = secrets.token_urlsafe(32)
        self.store.add_refresh(refresh_hash(refresh), user.user_id,
                               time.time() + self.config.refresh_ttl_s)
        return {"user": user.public(), "token": access, "access_token": access,
                "token_type": "bearer", "expires_in": int(self.config.access_ttl_s),
                "refresh_token": refresh, "refresh_expires_in": int(self.config.refresh_ttl_s),
                "token_name": f"Sign-in token - {user.username}",
                "message": "Login successful. Use this token in Authorization header."}


def auth_state(request: Request) -> AuthState:
    return request.app.state.auth


def caller(request: Request) -> Caller:
    """The dependency behind every route that needs to know who asks."""
    auth: AuthState = request.app.state.auth
    if not auth.config.auth_required:
        return LOCAL_CALLER
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "UNAUTHORIZED", "Sign in first: send Authorization: Bearer <token> "
                       "from /auth/login.", {"WWW-Authenticate": "Bearer"})
    claims = auth.signer.verify(token.strip())
    if claims is None or claims.get("kind") != "access":
        raise ApiError(401, "UNAUTHORIZED", "The token is not valid or has expired; sign in "
                       "again or use /auth/refresh.", {"WWW-Authenticate": "Bearer"})
    return Caller(str(claims["sub"]), str(claims["name"]), str(claims["role"]))


def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.is_admin:
        raise ApiError(403, "FORBIDDEN", "Only an admin may do that.")
    return who


def optional_caller(request: Request) -> Caller | None:
    """The caller when a valid token came along (or sign-in is off); None otherwise."""
    try:
        return caller(request)
    except ApiError:
        return None


router = APIRouter()
AuthDep = Annotated[AuthState, Depends(auth_state)]


@router.post("/register", status_code=201, summary="Register a user (issues no token)")
async def register(body: RegisterRequest, request: Request, auth: AuthDep) -> dict[str, Any]:
    if not _NAME.fullmatch(body.username) or body.username.lower() in _RESERVED:
        raise ApiError(400, "INVALID_VALUE", "A user name has 2 to 64 letters, digits, dots, "
                       "dashes or underscores, and is not one of api, admin, studio, local.")
    who, client = optional_caller(request), _client(request)
    password_hash = await asyncio.to_thread(hash_password, body.password)

    def add() -> User | None:
        with auth.registering:  # two first registrations at once make one admin, not two
            role = _allowed_role(auth, body, who, client)
            return auth.store.add_user(body.username, body.email, password_hash, role)

    user = await asyncio.to_thread(add)
    if user is None:
        raise ApiError(409, "CONFLICT", f"The user name {body.username} is taken.")
    return {"success": True, "user": user.public(),
            "message": "User registered successfully. Please login to get an API token."}


def _allowed_role(auth: AuthState, body: RegisterRequest, who: Caller | None,
                  client: str) -> str:
    """The first user is an admin and must register from this machine; later ones need an
    admin, unless registration is open (then as plain users)."""
    if auth.store.user_count() == 0:
        if not is_loopback(client):
            raise ApiError(403, "FORBIDDEN", "The first user (the admin) must register from "
                           "the server's own machine.")
        return "admin"
    if who is not None and who.is_admin:  # with sign-in off, the local caller is one
        return body.role
    if auth.config.open_registration and body.role == "user":
        return "user"
    raise ApiError(403, "FORBIDDEN", "Registration is closed; ask an admin to add you.")


@router.post("/login", summary="Sign in: a short-lived access token and a refresh token")
async def login(body: LoginRequest, request: Request, auth: AuthDep) -> dict[str, Any]:
    keys = (f"name:{body.username.lower()}", f"client:{_client(request)}")
    wait = auth.throttle.retry_after(*keys)
    if wait > 0:
        raise ApiError(429, "TOO_MANY_REQUESTS", f"Too many failed sign-ins; try again in "
                       f"{math.ceil(wait)} s.", {"Retry-After": str(math.ceil(wait))})
    found = await asyncio.to_thread(auth.store.find_user, body.username)
    good = await asyncio.to_thread(verify_password, found[1] if found else None, body.password)
    if not found or not good or not found[0].is_active:
        auth.throttle.failed(*keys)
        raise ApiError(401, "UNAUTHORIZED", "The user name or password is wrong.")
    auth.throttle.succeeded(keys[0])
    return await asyncio.to_thread(auth.tokens, found[0])


@router.post("/refresh", summary="Trade a refresh token for new tokens")
async def refresh(body: RefreshRequest, auth: AuthDep) -> dict[str, Any]:
    user_id = await asyncio.to_thread(auth.store.take_refresh, refresh_hash(body.refresh_token))
    user = await asyncio.to_thread(auth.store.user, user_id) if user_id else None
    if user is None or not user.is_active:
        raise ApiError(401, "UNAUTHORIZED", "The refresh token is not valid, was used already "
                       "or has expired; sign in again.")
    return await asyncio.to_thread(auth.tokens, user)


@router.get("/me", summary="Who the token belongs to")
async def me(who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    return {"success": True, "user": {"user_id": who.user_id, "username": who.name,
                                      "role": who.role}}


def _client(request: Request) -> str:
    return request.client.host if request.client else ""
