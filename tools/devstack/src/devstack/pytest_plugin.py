"""Pytest fixtures giving tests real PostgreSQL, Redis and SMTP.

Where each comes from, in order: an URL in the environment (``KANBAN_TEST_POSTGRES_URL`` =
an admin libpq URL, ``KANBAN_TEST_REDIS_URL``), else private processes started from the
local binaries under a temporary state folder (the way pytest-postgresql does it). No mocks.

What every service's tests share is here too: :func:`migrated_database` (a fixture factory:
the ``database_url`` and ``db`` fixtures of one service's database, migrated to head) and
the ``signing_key`` fixture (the RSA key tests sign access tokens with).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import psycopg
import pytest
import redis
import sqlalchemy as sa
from chassis.migrations import upgrade_to_head
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

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


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    """The RSA key tests sign access tokens with (the service under test verifies them with
    its public half). A conftest or test module may override it, e.g. with a stack's key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def migrated_database(service: str, *,
                      scope: Literal["session", "module"] = "session") -> tuple[object, object]:
    """The ``database_url`` and ``db`` fixtures of one service's tests, to bind in its
    conftest::

        database_url, db = migrated_database("boards")                     # one per session
        database_url, db = migrated_database("notifier", scope="module")   # one per test module

    ``database_url``: a fresh database on :func:`database_server`, migrated to head with the
    service's own migrations (``chassis.migrations.upgrade_to_head(service, url)``).
    ``db``: a synchronous engine on it, for looking at the tables from outside the service.
    The return values are fixture definitions: pytest collects them under those names."""

    @pytest.fixture(scope=scope, name="database_url")
    def database_url(database_server: DatabaseServer) -> str:
        url = database_server.create_database(service)
        upgrade_to_head(service, url)
        return url

    @pytest.fixture(scope=scope, name="db")
    def db(database_url: str) -> Iterator[sa.Engine]:
        engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
        yield engine
        engine.dispose()

    return database_url, db


@asynccontextmanager
async def asgi_client(app: Starlette,
                      base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client bound to ``app`` with its lifespan running (startup and shutdown)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
