"""Read-through calls from one service to another.

When a local read model misses, a service asks the owner of the data once: straight over the
service network (never through the gateway), with the caller's own ``Authorization`` header
and the request id, under a short timeout. Whatever goes wrong on the way (unreachable, a
status the caller does not expect, a body it cannot read) is one answer: 503 problem+json
with ``Retry-After``, so the client retries instead of the service guessing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from chassis.errors import ServiceUnavailable
from chassis.logging import get_logger, request_id_var

log = get_logger(__name__)


class ServiceClient:
    """HTTP client of the service ``service`` at ``base_url``; one connection pool per
    process. ``transport`` lets tests answer in-process."""

    def __init__(self, service: str, base_url: str, *, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.service = service
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                         transport=transport)

    def unavailable(self, path: str, *, status: int | None = None) -> ServiceUnavailable:
        """The 503 for a call to ``path`` that gave no usable answer (logged here)."""
        log.warning("read_through_failed", service=self.service, path=path, status=status)
        return ServiceUnavailable(f"The {self.service} service is unavailable; retry shortly",
                                  headers={"Retry-After": "1"})

    async def get_json(self, path: str, *, authorization: str | None,
                       params: Mapping[str, str | int] | None = None,
                       absent: Collection[int] = (404,)) -> dict[str, Any] | None:
        """``GET path`` as the caller: the JSON object of a 200, None for a status in
        ``absent`` (the owner says there is nothing for this caller), 503 for anything
        else."""
        headers = {"Authorization": authorization} if authorization else {}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = await self._client.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("read_through_unreachable", service=self.service, path=path,
                        error=repr(exc)[:300])
            raise self.unavailable(path) from exc
        if response.status_code in absent:
            return None
        if response.status_code != 200:
            raise self.unavailable(path, status=response.status_code)
        try:
            body = response.json()
        except ValueError as exc:
            raise self.unavailable(path, status=200) from exc
        if not isinstance(body, dict):
            raise self.unavailable(path, status=200)
        return body

    async def aclose(self) -> None:
        await self._client.aclose()


def attach_client(app: FastAPI, name: str, make: Callable[[], ServiceClient]) -> None:
    """Give ``app`` a client for its lifetime: made at start-up as ``app.state.<name>`` and
    closed at shutdown."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            client = make()
            setattr(app.state, name, client)
            try:
                yield state
            finally:
                await client.aclose()

    app.router.lifespan_context = lifespan
