"""The FastAPI application shape every service shares: one request middleware (request id,
JSON access log, body limits, content type), problem+json errors, health endpoints, DB engine
and Redis client in the lifespan, token verification, and a session-per-request dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from chassis.auth import TokenVerifier
from chassis.db import make_engine, make_session_factory
from chassis.docs import docs_router
from chassis.errors import PROBLEM_TYPES, install_error_handlers, problem, problem_type_uri
from chassis.logging import configure_logging, get_logger, request_id_var
from chassis.middleware import RequestMiddleware
from chassis.migrations import current_revision, head_revision
from chassis.settings import ServiceSettings
from chassis.worker import worker_states

log = get_logger("http")


def problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """OpenAPI with the error bodies the service really sends: every 422 is
    ``application/problem+json`` with ``errors[]`` (FastAPI documents its own
    ``HTTPValidationError`` shape otherwise), every other 4xx/5xx is a Problem."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description=app.description)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Problem"] = PROBLEM_SCHEMA
        components["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    if status == "422":
                        ref = "#/components/schemas/ValidationProblem"
                    elif status[0] in "45":
                        ref = "#/components/schemas/Problem"
                    else:
                        continue
                    response["content"] = {"application/problem+json": {"schema": {"$ref": ref}}}
        app.openapi_schema = schema
        return schema

    return openapi


def _problem_types_table() -> str:
    rows = [f"| `{problem_type_uri(code)}` | {kind.status} | {kind.description} |"
            for code, kind in PROBLEM_TYPES.items()]
    return "\n".join(["| type | status | meaning |", "|---|---|---|", *rows])


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem",
    "description": "RFC 9457 problem details. `type` is one of these stable relative URIs "
                   "(the gateway serves a short page at each):\n\n" + _problem_types_table(),
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference",
                 "description": "The problem type, `/problems/<code>`; branch on this, "
                                "never on `detail`.",
                 "examples": [problem_type_uri("not-found")]},
        "title": {"type": "string", "description": "The problem type's short title."},
        "status": {"type": "integer", "description": "The HTTP status."},
        "detail": {"type": "string", "description": "What went wrong in this case, for "
                                                    "people."}},
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    **PROBLEM_SCHEMA, "title": "ValidationProblem",
    "required": [*PROBLEM_SCHEMA["required"], "errors"],
    "properties": {**PROBLEM_SCHEMA["properties"], "errors": {
        "type": "array", "items": {
            "type": "object", "required": ["loc", "msg"],
            "properties": {"loc": {"type": "array",
                                   "items": {"anyOf": [{"type": "string"},
                                                       {"type": "integer"}]}},
                           "msg": {"type": "string"}}}}},
}


def current_request_id() -> str | None:
    return request_id_var.get()


# Reads: each statement on its own (autocommit), so a one-query read is one round trip
# instead of three (BEGIN, the query, COMMIT). A read of several statements sees each one's
# own snapshot; none of them relies on more.
READ_METHODS = frozenset({"GET", "HEAD"})


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read's session (autocommit), or one transaction per write request, committed before
    the response is sent."""
    if request.method in READ_METHODS:
        async with request.app.state.read_sessions() as session:
            yield session
        return
    async with request.app.state.sessions() as session, session.begin():
        yield session


# scope="function": the commit runs before the response is sent, so a 2xx means committed.
DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


def health_router(package: str, schema: str, workers: Sequence[str] = ()) -> APIRouter:
    """``/health/live`` (process up) and ``/health/ready`` (DB, Redis, migrations at head).
    For orchestrators on the service network, not the public API (the gateway does not route
    them), so they are left out of the OpenAPI document.

    ``/health/ready`` also reports the state of each of the service's ``workers`` kinds from
    their heartbeats (:mod:`chassis.worker`), for the gateway's ``/healthz``. They do not
    change its status: an API without its relay still answers requests correctly, and an
    orchestrator must not take it out of service for that."""
    router = APIRouter(prefix="/health", tags=["health"], include_in_schema=False)
    head = head_revision(package)

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", response_model=None)
    async def ready(request: Request) -> Any:
        checks: dict[str, str] = {}
        try:
            async with request.app.state.engine.connect() as conn:
                revision = await conn.run_sync(lambda c: current_revision(c, schema))
                await conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "ok" if revision == head else f"at {revision}, head {head}"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            await request.app.state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
        reasons: dict[str, str] = {}
        if workers and checks["redis"] == "ok":
            try:
                reasons = await worker_states(request.app.state.redis, schema, workers)
            except Exception as exc:
                reasons = dict.fromkeys(workers, f"unknown: {type(exc).__name__}")
        elif workers:
            reasons = dict.fromkeys(workers, "unknown: Redis unavailable")
        # Each kind's state is exactly "ok" or "failing"; why, for the failing ones, apart.
        states = {kind: "ok" if why == "ok" else "failing" for kind, why in reasons.items()}
        why_failing = {kind: why for kind, why in reasons.items() if why != "ok"}
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks, "workers": states,
                    "worker_problems": why_failing}
        return problem(503, "Not ready: " + ", ".join(k for k, v in checks.items() if v != "ok"),
                       checks=checks, workers=states, worker_problems=why_failing)

    return router


def create_service_app(
    *,
    service: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    title: str,
    description: str = "",
    token_verifier: TokenVerifier | None = None,
    on_startup: Callable[[FastAPI], Awaitable[None]] | None = None,
    workers: Sequence[str] = (),
    other_bodies: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build a service app. Routers carry the public paths (``/api/v1/...``); ``workers``
    names the service's worker kinds, whose heartbeats ``/health/ready`` reports;
    ``other_bodies`` the routes whose body is not JSON (see :class:`RequestMiddleware`)."""
    configure_logging(service, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                                       max_overflow=settings.db_pool_overflow,
                                       statement_timeout_ms=settings.db_statement_timeout_ms)
        app.state.sessions = make_session_factory(app.state.engine)
        app.state.read_sessions = make_session_factory(
            app.state.engine.execution_options(isolation_level="AUTOCOMMIT"))
        app.state.redis = aioredis.from_url(settings.redis_url, socket_timeout=3,
                                            socket_connect_timeout=3)
        app.state.token_verifier = token_verifier or TokenVerifier(
            issuer=settings.jwt_issuer, audience=settings.jwt_audience,
            jwks_url=settings.jwks_url, cache_seconds=settings.jwks_cache_seconds)
        if on_startup is not None:
            await on_startup(app)
        log.info("service_started", environment=settings.environment)
        yield
        await app.state.redis.aclose()
        await app.state.engine.dispose()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=f"/docs/{service}/openapi.json",
                  debug=settings.debug, default_response_class=JSONResponse)
    app.add_middleware(RequestMiddleware, other_bodies=other_bodies)
    app.openapi = problem_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(health_router(service, service, workers))
    app.include_router(docs_router(app, service))
    for router in routers:
        app.include_router(router)
    return app
