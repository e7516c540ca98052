"""Boards tests run against real PostgreSQL and Redis (devstack fixtures), no mocks.

Permissions are set up the way production sets them up: workspace and identity events go
through the real consumer (``BoardsConsumer.process``: idempotency table, handlers, one
transaction). Workspace itself is another service; its read-through endpoint is answered by
a small in-process stand-in (:class:`services.boards.tests.boards_helpers.WorkspaceStub`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from boards.config import BoardsSettings
from boards.events.consumer import BoardsConsumer
from boards.main import create_app
from chassis.auth import TokenVerifier
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.pytest_plugin import asgi_client, migrated_database

from services.boards.tests.boards_helpers import KID, Tokens, WorkspaceStub, World

database_url, db = migrated_database("boards")


@pytest.fixture(scope="session")
def tokens(signing_key: rsa.RSAPrivateKey) -> Tokens:
    return Tokens(signing_key)


@pytest.fixture
def settings(database_url: str, redis_url: str) -> BoardsSettings:
    return BoardsSettings(database_url=database_url, redis_url=redis_url,
                          workspace_url="http://workspace.test", db_pool_size=5,
                          consumer_reclaim_idle_ms=500, consumer_max_attempts=3)


@pytest.fixture
def workspace() -> WorkspaceStub:
    return WorkspaceStub()


@pytest.fixture
def make_app(tokens: Tokens, workspace: WorkspaceStub):
    def _make(settings: BoardsSettings):
        verifier = TokenVerifier(keys={KID: tokens.public_key}, issuer="kanban-identity",
                                 audience="kanban")
        return create_app(settings, token_verifier=verifier,
                          workspace_transport=httpx.ASGITransport(app=workspace))
    return _make


@pytest.fixture
async def client(settings: BoardsSettings, make_app) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(make_app(settings)) as http:
        yield http


@pytest.fixture
async def consumer(settings: BoardsSettings) -> AsyncIterator[BoardsConsumer]:
    consumer = BoardsConsumer(settings, consumer_name="test")
    yield consumer
    await consumer.engine.dispose()
    await consumer.redis.aclose()


@pytest.fixture
def world(client, consumer, tokens, workspace, db) -> World:
    return World(client=client, consumer=consumer, tokens=tokens, workspace=workspace, db=db)
