"""Pytest fixtures giving tests real PostgreSQL, Redis and SMTP.

Where each comes from, in order: an URL in the environment (``KANBAN_TEST_POSTGRES_URL`` =
an admin libpq URL, ``KANBAN_TEST_REDIS_URL``), else private processes started from the
local binaries under a temporary state folder (the way pytest-postgresql does it). No mocks.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from devstack.infra import Postgres, Redis, ScratchArea, SmtpSink


@dataclass
class DatabaseServer:
    """A PostgreSQL server tests may create databases on."""

    admin_url: str  # libpq URL of a superuser on the maintenance database

    def create_database(self, prefix: str) -> str:
        """A fresh, empty database; returns its SQLAlchemy (psycopg) URL."""
        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[:40]}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.admin_url.rsplit("/", 1)[0]
        return base.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


@pytest.fixture(scope="session")
def scratch() -> Iterator[ScratchArea]:
    """Temporary folders PostgreSQL and nginx's workers can reach (``scratch.mktemp(name)``),
    removed after the session; pytest's tmp_path is closed to them when we are root."""
    with ScratchArea("kanban-test-") as area:
        yield area


@pytest.fixture(scope="session")
def infra_root(scratch: ScratchArea) -> Path:
    return scratch.mktemp("infra")


@pytest.fixture(scope="session")
def database_server(infra_root: Path) -> Iterator[DatabaseServer]:
    if url := os.environ.get("KANBAN_TEST_POSTGRES_URL"):
        yield DatabaseServer(url)
        return
    server = Postgres(infra_root / "postgres", crash_safe=False).start()
    try:
        yield DatabaseServer(server.admin_url)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(infra_root: Path) -> Iterator[str]:
    if url := os.environ.get("KANBAN_TEST_REDIS_URL"):
        yield url
        return
    server = Redis(infra_root / "redis", crash_safe=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A Redis with no streams or groups left over from another test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    return redis_server


@pytest.fixture(scope="session")
def smtp_sink(infra_root: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(infra_root / "smtp").start()
    try:
        yield sink
    finally:
        sink.stop()


@asynccontextmanager
async def asgi_client(app, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client bound to ``app`` with its lifespan running (startup and shutdown)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
