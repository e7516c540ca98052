"""The shared pieces services build on: the publisher, keyset paging, the read-model rule,
the user directory, the input checks and the read-through client (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from chassis.db import get_row, make_engine, make_session_factory, outbox_table, service_metadata
from chassis.errors import NotFound, ServiceUnavailable, Unprocessable
from chassis.logging import request_id_var
from chassis.outbox import Publisher
from chassis.pagination import PageParams, decode_cursor, encode_cursor, keyset_page
from chassis.read_model import UserDirectory, upsert_if_newer
from chassis.service_client import ServiceClient
from chassis.validation import multi_line, path_id, single_line
from contracts.events import UserRegistered
from contracts.streams import IDENTITY_EVENTS
from sqlalchemy.ext.asyncio import AsyncSession

SCHEMA = "identity"   # the publisher derives its producer and stream from the schema
metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
items = sa.Table("items", metadata,
                 sa.Column("id", sa.Uuid, primary_key=True),
                 sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                 sa.Column("name", sa.Text, nullable=False),
                 sa.Column("version", sa.Integer, nullable=False),
                 sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()))
users = sa.Table("users", metadata,
                 sa.Column("user_id", sa.Uuid, primary_key=True),
                 sa.Column("email", sa.Text, nullable=False),
                 sa.Column("full_name", sa.Text, nullable=False),
                 sa.Column("as_of", sa.DateTime(timezone=True), nullable=False))
SECRET = "test-secret"


@pytest.fixture(scope="module")
def database_url(database_server) -> str:
    url = database_server.create_database("kit")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
        metadata.create_all(conn)
    engine.dispose()
    return url


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back at the end."""
    engine = make_engine(database_url)
    async with make_session_factory(engine)() as session:
        await session.begin()
        yield session
        await session.rollback()
    await engine.dispose()


def paging(limit: int, cursor: list | None = None) -> PageParams:
    return PageParams(limit=limit, cursor=cursor, secret=SECRET)


async def test_the_publisher_writes_outbox_rows_with_the_context_of_the_request(session):
    publisher = Publisher(outbox)
    assert (publisher.producer, publisher.stream) == ("identity", IDENTITY_EVENTS)
    actor = uuid.uuid4()
    token = request_id_var.set("req-42")
    try:
        envelopes = await publisher.publish_many(session, [
            ("user.registered", UserRegistered(user_id=actor, email="a@x.io", full_name="A")),
            ("user.registered", UserRegistered(user_id=actor, email="b@x.io", full_name="B")),
        ], actor_id=actor)
        explicit = await publisher.publish(
            session, "user.registered",
            UserRegistered(user_id=actor, email="c@x.io", full_name="C"),
            actor_id=None, correlation_id="scan-1")
    finally:
        request_id_var.reset(token)
    assert [(e.producer, e.actor_id, e.correlation_id) for e in envelopes] == \
        [("identity", actor, "req-42")] * 2
    assert (explicit.actor_id, explicit.correlation_id) == (None, "scan-1")
    rows = (await session.execute(sa.select(outbox.c.stream, outbox.c.envelope)
                                  .order_by(outbox.c.id))).all()
    assert [row.stream for row in rows] == [IDENTITY_EVENTS] * 3
    assert [row.envelope["data"]["email"] for row in rows] == ["a@x.io", "b@x.io", "c@x.io"]


async def test_keyset_pages_follow_the_key_in_either_direction(session):
    start = datetime(2030, 1, 1, tzinfo=UTC)
    ids = sorted(uuid.uuid4() for _ in range(5))
    # Two rows share a time: the id breaks the tie.
    times = [start, start, start + timedelta(seconds=1), start + timedelta(seconds=2),
             start + timedelta(seconds=3)]
    await session.execute(items.insert(), [
        {"id": i, "created_at": t, "name": f"n{n}", "version": 1}
        for n, (i, t) in enumerate(zip(ids, times, strict=True))])
    query = sa.select(items)
    for descending in (False, True):
        seen, cursor = [], None
        while True:
            rows, next_cursor = await keyset_page(session, query, paging(2, cursor),
                                                  items.c.created_at, items.c.id,
                                                  descending=descending)
            seen += [row.id for row in rows]
            if next_cursor is None:
                break
            cursor = decode_cursor(next_cursor, SECRET)
        assert seen == (ids[::-1] if descending else ids)


@pytest.mark.parametrize("cursor", [["2030-01-01T00:00:00+00:00"],          # too short
                                    ["2030-01-01T00:00:00", str(uuid.uuid4())],  # naive
                                    ["yesterday", str(uuid.uuid4())],
                                    ["2030-01-01T00:00:00+00:00", 7]])
async def test_a_cursor_of_another_shape_is_422(session, cursor):
    assert encode_cursor(cursor, SECRET)  # any JSON list can be signed; the shape is checked
    with pytest.raises(Unprocessable):
        await keyset_page(session, sa.select(items), paging(2, cursor),
                          items.c.created_at, items.c.id)


async def test_a_write_applies_only_if_newer_and_a_tombstone_stays(session):
    item = uuid.uuid4()
    now = datetime.now(UTC)

    async def write(version: int, name: str) -> bool:
        return await upsert_if_newer(
            session, items, {"id": item, "created_at": now, "name": name, "version": version},
            key=["id"], stamp="version", tombstone=items.c.deleted)

    async def stored() -> tuple[str, int, bool]:
        row = (await session.execute(sa.select(items).where(items.c.id == item))).one()
        return row.name, row.version, row.deleted

    assert await write(2, "two")
    assert not await write(1, "one")          # older: ignored
    assert not await write(2, "two again")    # the same stamp: ignored
    assert await write(3, "three")
    assert await stored() == ("three", 3, False)
    # A deletion carrying an older (or equal) stamp still wins, and keeps the newer stamp.
    assert await upsert_if_newer(
        session, items, {"id": item, "created_at": now, "name": "x", "version": 3,
                         "deleted": True},
        key=["id"], stamp="version", deletion=True, update={"deleted": True})
    assert await stored() == ("three", 3, True)
    assert not await write(9, "revived")      # a tombstone takes no ordinary write
    assert await stored() == ("three", 3, True)


async def test_the_user_directory_never_rolls_back(session):
    directory = UserDirectory(users)
    user_id = uuid.uuid4()
    t0 = datetime.now(UTC)
    await directory.upsert(session, user_id, email=" Ada@Example.COM ", full_name="Ada",
                           as_of=t0)
    await directory.upsert(session, user_id, email="ada@example.com", full_name="Ada Byron",
                           as_of=t0 - timedelta(seconds=1))
    user = await directory.get(session, user_id)
    assert user is not None and (user.email, user.full_name) == ("ada@example.com", "Ada")
    assert await directory.get(session, None) is None
    assert await directory.get(session, uuid.uuid4()) is None


async def test_get_row_raises_what_it_is_given(session):
    with pytest.raises(NotFound, match="Item not found"):
        await get_row(session, items, uuid.uuid4(), missing=NotFound("Item not found"),
                      lock="update")


def test_text_and_path_checks():
    assert single_line("Plain name") == "Plain name"
    assert multi_line("line one\r\nline two\tindented") == "line one\r\nline two\tindented"
    for bad in ("tab\there", "new\nline", "nul\x00"):
        with pytest.raises(ValueError):
            single_line(bad)
    for bad in ("nul\x00", "bell\x07", "del\x7f"):
        with pytest.raises(ValueError):
            multi_line(bad)
    ident = uuid.uuid4()
    assert path_id(str(ident), "Thing not found") == ident
    with pytest.raises(NotFound, match="Thing not found"):
        path_id("not-a-uuid", "Thing not found")


async def test_the_read_through_client_forwards_the_caller_and_maps_trouble_to_503():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/things/1":
            return httpx.Response(200, json={"id": 1})
        if request.url.path == "/things/gone":
            return httpx.Response(404, json={})
        if request.url.path == "/things/odd":
            return httpx.Response(200, text="not json")
        if request.url.path == "/things/down":
            raise httpx.ConnectError("refused")
        return httpx.Response(500, json={})

    client = ServiceClient("things", "http://things.test/", timeout=1,
                           transport=httpx.MockTransport(answer))
    token = request_id_var.set("req-7")
    try:
        assert await client.get_json("/things/1", authorization="Bearer t") == {"id": 1}
        assert await client.get_json("/things/gone", authorization="Bearer t") is None
        for path in ("/things/odd", "/things/down", "/things/broken"):
            with pytest.raises(ServiceUnavailable) as raised:
                await client.get_json(path, authorization=None)
            assert raised.value.headers == {"Retry-After": "1"}
    finally:
        request_id_var.reset(token)
        await client.aclose()
    assert seen[0].headers["authorization"] == "Bearer t"
    assert seen[0].headers["x-request-id"] == "req-7"
    assert "authorization" not in seen[2].headers


async def _backend_pid(engine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


def _terminate(database_url: str, pid: int) -> None:
    """What a server restart does to a pooled connection: its session ends."""
    killer = sa.create_engine(database_url)
    with killer.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    killer.dispose()


async def test_an_idle_pooled_connection_is_pinged_and_replaced_if_gone(database_url):
    engine = make_engine(database_url, pool_size=1, idle_ping_seconds=0.2)
    try:
        pid = await _backend_pid(engine)
        _terminate(database_url, pid)
        await asyncio.sleep(0.3)
        assert await _backend_pid(engine) != pid   # no error: the ping found it gone
    finally:
        await engine.dispose()


async def test_a_busy_pooled_connection_is_not_pinged(database_url):
    """No round trip before each request's query; a connection lost between two close
    requests costs one failure, after which the pool's connections are all fresh."""
    engine = make_engine(database_url, pool_size=1, idle_ping_seconds=60)
    try:
        pid = await _backend_pid(engine)
        _terminate(database_url, pid)
        with pytest.raises(sa.exc.DBAPIError):
            await _backend_pid(engine)
        assert await _backend_pid(engine) != pid
    finally:
        await engine.dispose()


async def test_a_pinged_connection_is_handed_out_idle(database_url):
    """The ping leaves no transaction open: a read in autocommit (how the APIs read) can
    switch the connection over."""
    engine = make_engine(database_url, pool_size=1, idle_ping_seconds=0.1)
    try:
        await _backend_pid(engine)
        await asyncio.sleep(0.2)
        async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
