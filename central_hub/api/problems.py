"""Every answer the API gives to a failed request is an RFC 9457 problem body with a stable
``code``: the hub's own errors, request validation, Starlette's 404/405, and anything
unexpected (500, whose body never carries the exception's text)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central_hub.errors import BadRequest, HubError, Retryable

__all__ = [
    "PROBLEM",
    "InternalErrorGuard",
    "install_problem_handlers",
    "invalid_request",
    "problem_response",
]

log = logging.getLogger("central_hub.api")

PROBLEM = "application/problem+json"
MAX_ERRORS = 20

# Starlette and FastAPI raise HTTPException themselves (no route, wrong method, a body
# they could not read); each status gets a code of its own.
_HTTP_CODES = {
    400: ("invalid_request", "the request could not be read"),
    404: ("not_found", "there is no resource at this path"),
    405: ("method_not_allowed", "this path does not accept this method"),
    413: ("body_too_large", "the request body is too large"),
}


def problem_response(error: HubError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    merged = dict(headers or {})
    if isinstance(error, Retryable):
        merged["Retry-After"] = str(error.retry_after_seconds)
    return JSONResponse(
        error.problem(), status_code=error.status, media_type=PROBLEM, headers=merged
    )


def invalid_request(detail: str, errors: Iterable[Mapping[str, Any]]) -> BadRequest:
    """``400 invalid_request`` listing what failed (location and message, never the input:
    a rejected field may hold a token or a citizen's data)."""
    listed = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors]
    return BadRequest("invalid_request", detail, errors=listed[:MAX_ERRORS])


def _internal_error() -> JSONResponse:
    problem = HubError("internal_error", "the hub hit an unexpected error; retry later")
    return problem_response(problem)


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error type to a problem body (see ``docs/protocol.md`` §17.1)."""

    @app.exception_handler(HubError)
    async def _hub_error(_request: Request, error: HubError) -> JSONResponse:
        return problem_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        # One rule for bad input: 400. FastAPI's default 422 is never sent.
        return problem_response(invalid_request("request parameters are invalid", error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code, detail = _HTTP_CODES.get(error.status_code, ("http_error", "request refused"))
        problem = HubError(code, detail)
        problem.status = error.status_code
        return problem_response(problem, headers=error.headers)  # keeps 405's Allow

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        # Last resort, reached only from outside InternalErrorGuard (a middleware's own
        # bug): Starlette answers it from its outermost layer, without X-EGSync-Time.
        log.error("unhandled error outside the guarded stack", exc_info=error)
        return _internal_error()


class InternalErrorGuard:
    """ASGI middleware: an exception no handler took becomes ``500 internal_error`` here,
    inside the middleware stack, so the answer still passes through ``HubTimeHeader``
    (Starlette's own 500 handler sits outside every middleware). The traceback goes to the
    log; the client gets a fixed sentence."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error: %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a problem body; the server closes the connection
            await _internal_error()(scope, receive, send)
