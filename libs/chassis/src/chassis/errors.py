"""One error type, one handler: domain code raises :class:`DomainError` subclasses and the
handler renders RFC 9457 problem+json. Unexpected errors never leak a stack trace.

Every problem's ``type`` is a stable relative URI ``/problems/<code>`` from
:data:`PROBLEM_TYPES`, so a client tells a WIP limit from a taken e-mail by ``type``, never
by parsing ``detail``. The gateway serves a short page at each of those paths and the merged
OpenAPI document lists them; tests check both against this catalogue."""

from __future__ import annotations

from dataclasses import dataclass
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
PROBLEM_TYPE_PREFIX = "/problems/"
log = get_logger(__name__)


@dataclass(frozen=True)
class ProblemType:
    status: int
    title: str
    description: str


# The catalogue of problem types: code -> what it means. Codes are part of the public
# contract (clients branch on them): add, never rename.
PROBLEM_TYPES: dict[str, ProblemType] = {
    "bad-request": ProblemType(400, "Bad Request",
                               "The request could not be read (e.g. a malformed header)."),
    "unauthorized": ProblemType(401, "Unauthorized",
                                "The access token is missing, malformed, expired, revoked, of "
                                "the wrong type or not signed by identity. Sign in again or "
                                "refresh the token."),
    "forbidden": ProblemType(403, "Forbidden",
                             "You can see the resource, but your role does not allow this."),
    "not-found": ProblemType(404, "Not Found",
                             "No such resource, or it is in a team or project you cannot see "
                             "(existence is not revealed)."),
    "method-not-allowed": ProblemType(405, "Method Not Allowed",
                                      "The path exists but not with this HTTP method."),
    "request-timeout": ProblemType(408, "Request Timeout",
                                   "The request was not received completely in time."),
    "conflict": ProblemType(409, "Conflict",
                            "The change conflicts with the current state (e.g. a name already "
                            "taken); reload and retry."),
    "email-taken": ProblemType(409, "E-mail Taken",
                               "An account with this e-mail address (compared "
                               "case-insensitively) already exists."),
    "handle-taken": ProblemType(409, "Handle Taken", "Another user already has this handle."),
    "already-member": ProblemType(409, "Already a Member",
                                  "The user is already a member of this team or project."),
    "wip-limit-reached": ProblemType(409, "WIP Limit Reached",
                                     "The target list holds as many tasks as its WIP limit "
                                     "allows; move a task out or raise the limit."),
    "owner-cannot-leave": ProblemType(409, "Owner Cannot Leave",
                                      "A team's owner cannot leave or be removed, nor have the "
                                      "role changed; transfer ownership first."),
    "implicit-admin": ProblemType(409, "Implicit Admin",
                                  "Team owners and admins are admins of every project of the "
                                  "team; their project role cannot be set or removed."),
    "archived": ProblemType(409, "Archived",
                            "The resource is archived; restore it before changing it."),
    "idempotency-key-in-use": ProblemType(409, "Idempotency Key In Use",
                                          "A request with this Idempotency-Key is still "
                                          "running; retry after it has finished."),
    "gone": ProblemType(410, "Gone", "The resource existed but is no longer available."),
    "precondition-failed": ProblemType(412, "Precondition Failed",
                                       "If-Match does not match the current version (ETag); "
                                       "nothing changed. Reload and retry."),
    "payload-too-large": ProblemType(413, "Payload Too Large",
                                     "The request body is larger than 1 MiB."),
    "uri-too-long": ProblemType(414, "URI Too Long", "The request URI is too long."),
    "unsupported-media-type": ProblemType(415, "Unsupported Media Type",
                                          "The body's Content-Type is not one this route "
                                          "takes (JSON routes take application/json)."),
    "validation-failed": ProblemType(422, "Validation Failed",
                                     "The request is not valid; `errors` lists each problem "
                                     "with its location (`loc`) and a message (`msg`)."),
    "idempotency-key-reused": ProblemType(422, "Idempotency Key Reused",
                                          "This Idempotency-Key was already used by you for "
                                          "a different request in the last 24 hours."),
    "rate-limited": ProblemType(429, "Too Many Requests",
                                "Too many requests; wait for the number of seconds in "
                                "Retry-After."),
    "internal-error": ProblemType(500, "Internal Server Error",
                                  "An unexpected error; it is logged with the request's "
                                  "X-Request-ID."),
    "bad-gateway": ProblemType(502, "Bad Gateway",
                               "The service behind the gateway did not answer properly; "
                               "retry shortly."),
    "service-unavailable": ProblemType(503, "Service Unavailable",
                                       "A service or a backing store is unavailable; retry "
                                       "after the number of seconds in Retry-After."),
    "gateway-timeout": ProblemType(504, "Gateway Timeout",
                                   "The service behind the gateway did not answer in time."),
}

# The code of a status when nothing more precise applies.
DEFAULT_CODES: dict[int, str] = {}
for _code, _type in PROBLEM_TYPES.items():
    DEFAULT_CODES.setdefault(_type.status, _code)


def problem_type_uri(code: str) -> str:
    return PROBLEM_TYPE_PREFIX + code


def code_for_status(status: int) -> str:
    """The generic code of ``status`` (``bad-request`` / ``internal-error`` for statuses
    without one of their own)."""
    return DEFAULT_CODES.get(status, "internal-error" if status >= 500 else "bad-request")


class DomainError(Exception):
    status_code = 400
    code = "bad-request"

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None,
                 code: str | None = None) -> None:
        super().__init__(detail)
        if code is not None:
            if PROBLEM_TYPES[code].status != self.status_code:
                raise ValueError(f"problem type {code} is not a {self.status_code}")
            self.code = code
        self.detail = detail or HTTPStatus(self.status_code).phrase
        self.headers = headers or {}


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str = "Missing or invalid access token") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not-found"


class Conflict(DomainError):
    """409; pass ``code`` for the precise cases clients branch on (``email-taken``...)."""

    status_code = 409
    code = "conflict"


class Gone(DomainError):
    status_code = 410
    code = "gone"


class PreconditionFailed(DomainError):
    status_code = 412
    code = "precondition-failed"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported-media-type"


class Unprocessable(DomainError):
    """422 with an ``errors`` list like request validation errors."""

    status_code = 422
    code = "validation-failed"

    def __init__(self, detail: str, loc: list[str | int] | None = None, *,
                 code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.errors = [{"loc": loc or ["body"], "msg": detail}]


class TooManyRequests(DomainError):
    status_code = 429
    code = "rate-limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service-unavailable"


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            code: str | None = None, **extra: Any) -> JSONResponse:
    """A problem+json response: ``type``, ``title``, ``status``, ``detail`` (+ extras).
    ``code`` picks a precise problem type; by default the status's generic one."""
    code = code or code_for_status(status)
    body = {"type": problem_type_uri(code), "title": PROBLEM_TYPES[code].title,
            "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "invalid"))}
            for err in exc.errors()]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        extra = {"errors": exc.errors} if isinstance(exc, Unprocessable) else {}
        return problem(exc.status_code, exc.detail, headers=exc.headers, code=exc.code,
                       **extra)

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
