"""Database plumbing shared by the services: engine/session factories, a MetaData with an
explicit naming convention bound to the service's own schema, and the outbox and
processed-events tables every producer/consumer keeps in its own schema."""

from __future__ import annotations

import time
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> sa.MetaData:
    """MetaData for one service: every table lives in the service's own schema."""
    return sa.MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    """Events waiting for the relay. Written in the same transaction as the state change;
    the relay deletes a row only after Redis has accepted it."""
    return sa.Table(
        "outbox", metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def processed_events_table(metadata: sa.MetaData) -> sa.Table:
    """Idempotency keys of a consumer: one row per handled event, same transaction as the
    effect, so a redelivered event is recognised and skipped."""
    return sa.Table(
        "processed_events", metadata,
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


# A pooled connection unused this long is pinged before it is handed out (see make_engine).
IDLE_PING_SECONDS = 10.0


def make_engine(database_url: str, *, pool_size: int = 10, max_overflow: int | None = None,
                statement_timeout_ms: int = 30_000,
                idle_ping_seconds: float = IDLE_PING_SECONDS) -> AsyncEngine:
    """An async engine with short connect timeouts, so a lost database answers 503 quickly
    instead of hanging a request, and a server-side ``statement_timeout`` (0 = none), so a
    runaway query is cancelled instead of holding a pooled connection for good; the
    cancellation surfaces as ``OperationalError`` (503 problem+json in an API).

    ``max_overflow`` (default: ``pool_size``) connections beyond the pool are opened when
    it is exhausted and closed again when returned to a full pool: under sustained load
    that is a connect and a close per request, so an API sets it to 0 and its requests
    wait their turn for a pooled connection instead (up to ``pool_timeout``).

    Stale connections: a connection idle for ``idle_ping_seconds`` is pinged at checkout
    and replaced if the server has gone (restarted, or it closed idle sessions). A busy
    connection is not pinged: that round trip would double the cost of a one-query read.
    If the server goes away between two requests a second apart, the next request fails
    once (503), and SQLAlchemy then replaces every connection the pool made before it."""
    connect_args: dict[str, object] = {"connect_timeout": 3}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=5,
        connect_args=connect_args,
    )
    _ping_when_idle(engine, idle_ping_seconds)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    @sa.event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            # The dialect's own ping: outside any transaction, so the connection is handed
            # out as idle as it was (an autocommit read could not switch otherwise).
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise sa.exc.DisconnectionError(f"stale pooled connection: {exc!r}") from exc


# Row locks a read can take: FOR UPDATE (to delete, or change the key) or FOR NO KEY UPDATE
# (to change other columns; foreign-key checks of other rows are not blocked).
Lock = Literal["update", "no_key_update"]


async def get_row(session: AsyncSession, table: sa.Table, row_id: Any, *,
                  missing: Exception, lock: Lock | None = None) -> sa.Row[Any]:
    """The row of ``table`` whose ``id`` is ``row_id``, locked as ``lock`` says; raises
    ``missing`` (e.g. a 404 :class:`chassis.errors.NotFound`) when there is none."""
    query = sa.select(table).where(table.c.id == row_id)
    if lock == "update":
        query = query.with_for_update()
    elif lock == "no_key_update":
        query = query.with_for_update(key_share=True)
    row = (await session.execute(query)).first()
    if row is None:
        raise missing
    return row


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose rows stay readable after commit (no expiry on commit)."""
    return async_sessionmaker(engine, expire_on_commit=False)
