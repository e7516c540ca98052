"""One error type, one handler: domain code raises :class:`DomainError` subclasses and the
handler renders RFC 9457 problem+json. Unexpected errors never leak a stack trace."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chassis.logging import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail or HTTPStatus(self.status_code).phrase
        self.headers = headers or {}


class Unauthorized(DomainError):
    status_code = 401

    def __init__(self, detail: str = "Missing or invalid access token") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class PreconditionFailed(DomainError):
    status_code = 412


class Unprocessable(DomainError):
    """422 with an ``errors`` list like request validation errors."""

    status_code = 422

    def __init__(self, detail: str, loc: list[str | int] | None = None) -> None:
        super().__init__(detail)
        self.errors = [{"loc": loc or ["body"], "msg": detail}]


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(DomainError):
    status_code = 503


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """A problem+json response: ``type``, ``title``, ``status``, ``detail`` (+ extras)."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "invalid"))}
            for err in exc.errors()]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        extra = {"errors": exc.errors} if isinstance(exc, Unprocessable) else {}
        return problem(exc.status_code, exc.detail, headers=exc.headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "The request is not valid", errors=_validation_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's answer to a body it cannot decode (e.g. not UTF-8): the contract says
            # an invalid body is 422, like any other invalid body.
            return problem(422, "The request body is not valid JSON",
                           errors=[{"loc": ["body"], "msg": "invalid JSON"}])
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(sqlalchemy.exc.DataError)
    async def _out_of_range(_: Request, exc: sqlalchemy.exc.DataError) -> JSONResponse:
        # A value the schema let through but PostgreSQL refuses (a safety net: schemas bound
        # their numbers and times).
        log.warning("data_error", error=str(exc.orig)[:200])
        return problem(422, "A value is out of range",
                       errors=[{"loc": ["body"], "msg": "value out of range"}])

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return problem(503, "A backing service is unavailable; retry shortly",
                       headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", exc_info=exc)
        return problem(500, "Internal server error")
