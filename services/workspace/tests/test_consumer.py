"""The real consumer: EventConsumer with consumer group "workspace" on a real Redis, fed the
way identity's relay publishes (FastStream XADD on identity.events); and the workspace relay
publishing this service's outbox onto workspace.events."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from chassis.relay import OutboxRelay
from chassis.worker import running
from contracts.events import UserRegistered, UserUpdated, make_event, parse_event
from contracts.streams import IDENTITY_EVENTS, WORKSPACE_EVENTS
from devstack.testing import stream_entries
from faststream.redis import RedisBroker
from faststream.redis.parser import BinaryMessageFormatV1
from workspace.config import WorkspaceSettings
from workspace.events.consumer import GROUP, build_consumer


@pytest.fixture
def consumer_settings(database_url: str, redis_url: str) -> WorkspaceSettings:
    return WorkspaceSettings(database_url=database_url, redis_url=redis_url,
                             consumer_reclaim_idle_ms=500, consumer_max_attempts=3)


async def publish_identity_events(redis_url: str, *envelopes) -> None:
    """What identity's relay does with its outbox rows."""
    broker = RedisBroker(redis_url)
    await broker.connect()
    try:
        for envelope in envelopes:
            body = envelope.model_dump(mode="json")
            await broker.publish(body, stream=IDENTITY_EVENTS,
                                 correlation_id=body["correlation_id"] or body["event_id"],
                                 headers={"event_type": body["type"]})
    finally:
        await broker.stop()


def registered(user_id: uuid.UUID, email: str, name: str, at: datetime | None = None):
    event = make_event("user.registered",
                       UserRegistered(user_id=user_id, email=email, full_name=name),
                       producer="identity", actor_id=user_id, correlation_id="req-1")
    return event.model_copy(update={"occurred_at": at}) if at else event


def updated(user_id: uuid.UUID, email: str, name: str, at: datetime):
    event = make_event("user.updated", UserUpdated(user_id=user_id, email=email, full_name=name),
                       producer="identity", actor_id=user_id)
    return event.model_copy(update={"occurred_at": at})


def directory_row(db: sa.Engine, user_id: uuid.UUID):
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT email, full_name FROM workspace.user_directory "
                                    "WHERE user_id = :id"), {"id": user_id}).first()


async def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def wait_for_async(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def group_drained(client: aioredis.Redis) -> bool:
    """Every entry of identity.events read by the group and acknowledged."""
    last_id = stream_entries(await client.xrevrange(IDENTITY_EVENTS, count=1))[0][0]
    [group] = await client.xinfo_groups(IDENTITY_EVENTS)
    pending = (await client.xpending(IDENTITY_EVENTS, GROUP))["pending"]
    return group["name"] == GROUP.encode() and group["last-delivered-id"] == last_id \
        and pending == 0


async def test_consumer_fills_the_directory_and_adding_by_email_needs_no_read_through(
        consumer_settings, db, client, api, make_user, identity):
    owner = make_user("owner")
    team = await api.create_team(owner)
    user_id = uuid.uuid4()
    email = f"Event-{user_id.hex[:8]}@Example.com"
    # Published before the consumer (and its group) exists: still delivered (group at 0).
    await publish_identity_events(consumer_settings.redis_url,
                                  registered(user_id, email, "Grace Hopper"))
    redis_client = aioredis.from_url(consumer_settings.redis_url)
    async with running(build_consumer(consumer_settings, consumer_name="test-1")):
        await wait_for(lambda: directory_row(db, user_id) is not None)
        await wait_for_async(lambda: group_drained(redis_client))
    await redis_client.aclose()
    assert tuple(directory_row(db, user_id)) == (email.lower(), "Grace Hopper")
    calls = len(identity.calls)
    response = await client.post(f"/api/v1/teams/{team['id']}/members",
                                 json={"email": email, "role": "member"}, headers=owner.headers)
    assert response.status_code == 201, response.text
    assert response.json()["full_name"] == "Grace Hopper"
    assert identity.calls[calls:] == []  # known from the event: identity not asked


async def test_updates_apply_once_and_never_roll_back(consumer_settings, db):
    user_id = uuid.uuid4()
    t0 = datetime.now(UTC)
    first = registered(user_id, "ada@example.com", "Ada", at=t0)
    newer = updated(user_id, "ada@example.com", "Ada Lovelace", at=t0 + timedelta(seconds=2))
    older = updated(user_id, "ada@example.com", "Ada Byron", at=t0 + timedelta(seconds=1))
    async with running(build_consumer(consumer_settings, consumer_name="test-2")) as consumer:
        await publish_identity_events(consumer_settings.redis_url, first, newer)
        await wait_for(lambda: (directory_row(db, user_id) or (None, None))[1] == "Ada Lovelace")
        # An older update redelivered late (e.g. after a reclaim), and a duplicate delivery.
        await publish_identity_events(consumer_settings.redis_url, older, newer)
        client = aioredis.from_url(consumer_settings.redis_url)

        await wait_for_async(lambda: group_drained(client))
        await client.aclose()
        assert consumer.group == "workspace"
    assert tuple(directory_row(db, user_id)) == ("ada@example.com", "Ada Lovelace")
    with db.connect() as conn:
        processed = conn.execute(sa.text(
            "SELECT count(*) FROM workspace.processed_events WHERE event_id = ANY(:ids)"),
            {"ids": [first.event_id, newer.event_id, older.event_id]}).scalar()
    assert processed == 3


async def test_the_consumer_module_runs_as_a_process(consumer_settings, db):
    """``python -m chassis.serve workspace --role consumer`` with the service's env vars;
    SIGTERM stops it cleanly."""
    user_id = uuid.uuid4()
    env = {**os.environ, "WORKSPACE_DATABASE_URL": consumer_settings.database_url,
           "WORKSPACE_REDIS_URL": consumer_settings.redis_url, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "chassis.serve", "workspace",
                                "--role", "consumer"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        await publish_identity_events(consumer_settings.redis_url,
                                      registered(user_id, "proc@example.com", "Proc Ess"))
        await wait_for(lambda: directory_row(db, user_id) is not None, timeout=30)
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output[-2000:]
    assert tuple(directory_row(db, user_id)) == ("proc@example.com", "Proc Ess")
    # Each line names the role it comes from.
    assert '"event_processed"' in output and '"service": "workspace-consumer"' in output


async def test_the_relay_publishes_workspace_events_that_validate(
        consumer_settings, client, api, make_user, db):
    """Our outbox -> the real relay -> workspace.events; each message parses with contracts."""
    with db.begin() as conn:  # earlier tests left rows; publish only this test's
        conn.execute(sa.text("DELETE FROM workspace.outbox"))
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner)
    project = await api.create_project(team, owner)
    await api.add_member(team, owner, member, "admin")
    relay = OutboxRelay(schema="workspace", database_url=consumer_settings.database_url,
                        redis_url=consumer_settings.redis_url, poll_seconds=0.2)
    async with running(relay):
        try:
            await wait_for(lambda: relay.published >= 4, timeout=5)
        except AssertionError:
            with db.connect() as conn:
                left = conn.execute(sa.text("SELECT count(*) FROM workspace.outbox")).scalar()
            raise AssertionError((relay.published, left)) from None
    client_redis = aioredis.from_url(consumer_settings.redis_url)
    entries = stream_entries(await client_redis.xrange(WORKSPACE_EVENTS))
    await client_redis.aclose()
    envelopes = []
    for _, fields in entries:
        body = json.loads(BinaryMessageFormatV1.parse(fields[b"__data__"])[0])
        envelopes.append(parse_event(body))
    for envelope in envelopes:
        envelope.payload()
    assert [e.type for e in envelopes] == ["team.created", "project.created",
                                           "team.member_added", "project.member_added"]
    assert envelopes[1].data["project_id"] == project["id"]
