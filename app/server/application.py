"""The FastAPI application: routes, error shapes, body limit, CORS. OpenAPI stays on
(``/docs``, ``/redoc``, ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.server import auth, features, files, system
from app.server.auth import AuthState
from app.server.backend import Backend
from app.server.config import ServerConfig
from app.server.errors import BodyLimit, install_error_handlers
from app.server.store import ServerStore


def build_app(backend: Backend, config: ServerConfig, store: ServerStore) -> FastAPI:
    """``backend`` runs the jobs; ``store`` holds users and uploads (same data directory)."""
    config.check()
    app = FastAPI(title="Meshsmith API", version=system.VERSION,
                  description="The reviewed 3D generation server's v1 API on Meshsmith's "
                              "engine. Reference: docs/api.md.")
    app.state.backend, app.state.config, app.state.store = backend, config, store
    app.state.auth = AuthState.create(config, store)
    install_error_handlers(app)
    app.add_api_route("/health", system.health, methods=["GET"], tags=["Health"],
                      summary="Health check")
    app.add_api_route("/", _root, methods=["GET"], include_in_schema=False)
    app.include_router(auth.router, prefix="/auth", tags=["Sign-in"])
    # the reviewed server's clients sign in here
    app.include_router(auth.router, prefix="/api/v1/users", tags=["Sign-in"],
                       include_in_schema=False)
    app.include_router(system.router)
    app.include_router(files.router)
    for router in features.routers():
        app.include_router(router, prefix="/api/v1")
    if config.cors_origins:  # closed unless origins are named
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app


async def _root() -> dict[str, Any]:
    return {"name": "Meshsmith API", "version": system.VERSION, "docs_url": "/docs",
            "health_url": "/health"}
