"""Every refusal is one sentence: ``{"error": CODE, "message": sentence, "detail": sentence}``
(``detail`` is where the reviewed server's clients look), with a 4xx status for the caller's
mistakes. Also the brake on request bodies that are too large."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import ErrorCode, MeshsmithError

log = logging.getLogger(__name__)

_STATUS_OF_CODE = {
    ErrorCode.INVALID_INPUT: 400, ErrorCode.INVALID_PARAMS: 400, ErrorCode.UNKNOWN_ADAPTER: 400,
    ErrorCode.ENGINE_LOCKED: 503, ErrorCode.HISTORY_UNAVAILABLE: 503,
    ErrorCode.ENGINE_STOPPED: 503, ErrorCode.STORAGE: 503,
    ErrorCode.INTERRUPTED: 503, ErrorCode.DISK_FULL: 507,
}
_CODE_OF_STATUS = {400: "INVALID_VALUE", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                   405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "TOO_LARGE",
                   415: "UNSUPPORTED_MEDIA_TYPE", 422: "INVALID_VALUE", 429: "TOO_MANY_REQUESTS"}


class ApiError(HTTPException):
    """A refusal with its status, a code and one sentence."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code, self.message = code, message


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"There is no {what}.")


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message, "detail": message}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(MeshsmithError, _meshsmith_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        code, message = exc.code, exc.message
    else:
        code = _CODE_OF_STATUS.get(exc.status_code, "API_ERROR")
        message = _sentence(exc.status_code, str(exc.detail), request)
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(error_body("INVALID_VALUE", validation_sentence(exc.errors())), 422)


async def _meshsmith_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MeshsmithError)
    return JSONResponse(error_body(exc.code.value, exc.message),
                        _STATUS_OF_CODE.get(exc.code, 500))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("INTERNAL_ERROR", "The server could not do that because of "
                                   f"an internal error ({type(exc).__name__})."), 500)


def _sentence(status: int, detail: str, request: Request) -> str:
    if status == 404 and detail == "Not Found":
        return f"There is no route {request.method} {request.url.path}."
    if status == 405:
        return f"{request.url.path} does not take {request.method} requests."
    return detail if detail.endswith(".") else detail + "."


def validation_sentence(errors: Any) -> str:
    """The first problem with a request, as one sentence."""
    first = dict(next(iter(errors), {}))
    kind, message = first.get("type", ""), str(first.get("msg", "it is not valid"))
    where = [str(part) for part in first.get("loc", ()) if part != "body"]
    if kind == "json_invalid":
        return "The request body is not valid JSON."
    if not where:
        if kind in ("model_attributes_type", "dict_type"):
            return "The request body must be a JSON object."
        return message.removeprefix("Value error, ").rstrip(".") + "."
    field = ".".join(where[1:] if where[0] in ("query", "path", "header") else where)
    if kind == "missing":
        return f"{field} is required."
    if kind == "extra_forbidden":
        return f"{field} is not a field this route knows."
    return f"{field}: {message.removeprefix('Value error, ').rstrip('.')}."


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "TOO_LARGE", f"The request is larger than this server accepts "
                         f"({limit // 2**20} MB); upload the file in a smaller form.")


class BodyLimit:
    """Refuses a body over ``max_bytes``: at once when Content-Length says so, else as soon
    as that many bytes have arrived (chunked uploads), without reading the rest."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await _send_json(send, 413 if declared.isdigit() else 400,
                             BodyTooLarge(self.max_bytes) if declared.isdigit() else
                             ApiError(400, "INVALID_VALUE", "The Content-Length header is "
                                      "not a number."))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)  # an HTTPException: FastAPI lets it through
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, status: int, exc: ApiError) -> None:
    body = json.dumps(error_body(exc.code, exc.message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
