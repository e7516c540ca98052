"""Notifier tests: real PostgreSQL, Redis and SMTP (devstack fixtures), the real consumer
(``chassis.consumer.EventConsumer`` with the notifier's handlers), the real mailer and the
API over httpx's ASGI transport with tokens signed by a test key. No mocks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from chassis.auth import TokenVerifier
from chassis.worker import running
from contracts.events import Envelope
from contracts.streams import STREAM_BY_PRODUCER
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.pytest_plugin import asgi_client, migrated_database
from faststream.redis import RedisBroker
from notifier.config import NotifierSettings
from notifier.events.consumer import GROUP, build_consumer
from notifier.main import create_app

from services.notifier.tests.notifier_helpers import (
    AUDIENCE,
    ISSUER,
    KID,
    Mailbox,
    eventually,
    sign_token,
)

# A fresh database per test module, migrated to head.
database_url, db = migrated_database("notifier", scope="module")


@pytest.fixture(scope="session")
def verifier(signing_key: rsa.RSAPrivateKey) -> TokenVerifier:
    return TokenVerifier(keys={KID: signing_key.public_key()}, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def token(signing_key) -> Callable[..., dict[str, str]]:
    """``token(user_id)`` -> Authorization header of a valid access token."""
    def _headers(user_id: uuid.UUID | str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {sign_token(signing_key, user_id, **claims)}"}
    return _headers


@pytest.fixture
def settings(database_url: str, redis_url: str, smtp_sink) -> NotifierSettings:
    return NotifierSettings(
        database_url=database_url, redis_url=redis_url, smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port, consumer_reclaim_idle_ms=500,
        mailer_poll_seconds=1.0, mailer_backoff_base_seconds=0.1,
        mailer_backoff_max_seconds=0.5, smtp_timeout_seconds=5)


@pytest.fixture
def mailbox(smtp_sink) -> Mailbox:
    return Mailbox(smtp_sink.messages)


@pytest.fixture
async def client(settings, verifier) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(settings, token_verifier=verifier)) as http:
        yield http


class Bus:
    """Publishes envelopes on their producer's stream the way the relay does, and waits
    until the notifier's consumer group has consumed (and acknowledged) everything."""

    def __init__(self, redis_url: str) -> None:
        self.broker = RedisBroker(redis_url)
        self.redis = aioredis.from_url(redis_url)

    async def publish(self, *envelopes: Envelope) -> None:
        for envelope in envelopes:
            body = envelope.model_dump(mode="json")
            await self.broker.publish(body, stream=STREAM_BY_PRODUCER[envelope.producer],
                                      correlation_id=str(envelope.event_id),
                                      headers={"event_type": envelope.type})

    async def settled(self) -> bool:
        for stream in STREAM_BY_PRODUCER.values():
            if not await self.redis.exists(stream):
                continue
            for group in await self.redis.xinfo_groups(stream):
                name = group["name"].decode() if isinstance(group["name"], bytes) \
                    else group["name"]
                if name == GROUP and (group["pending"] or group.get("lag")):
                    return False
        return True

    async def feed(self, *envelopes: Envelope, timeout: float = 15.0) -> None:
        await self.publish(*envelopes)
        await eventually(self.settled, timeout)


@pytest.fixture
async def bus(settings) -> AsyncIterator[Bus]:
    """A running notifier consumer and a way to feed it events through Redis."""
    bus = Bus(settings.redis_url)
    await bus.broker.connect()
    async with running(build_consumer(settings, consumer_name="test")):
        yield bus
    await bus.broker.stop()
    await bus.redis.aclose()


@pytest.fixture
def process(settings) -> Callable[..., Awaitable[list[bool]]]:
    """Run envelopes through the consumer's handler path directly (its idempotency
    transaction and handlers, without Redis): quick setup for API tests."""
    async def _process(*envelopes: Envelope) -> list[bool]:
        consumer = build_consumer(settings, consumer_name="direct")
        try:
            return [await consumer.process(e.model_dump(mode="json")) for e in envelopes]
        finally:
            await consumer.close()
    return _process


@pytest.fixture
def rows(db: sa.Engine) -> Callable[..., list[dict]]:
    def _rows(query: str, **params: Any) -> list[dict]:
        with db.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(query), params).mappings().all()]
    return _rows
