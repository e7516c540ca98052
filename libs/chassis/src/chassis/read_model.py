"""Read models: a service's local copies of other services' data, fed by their events.

Events may arrive late or more than once (a reclaimed message, a redelivery after a crash),
so every row of a read model carries a *stamp*: the ``occurred_at`` of the event that wrote it
(or the moment a read-through asked the owner), or the owner's version number of the thing.
One rule decides whether a write applies (:func:`is_newer`): **a write applies only if its
stamp is newer than the stored one.** An older write, or the same one again, changes nothing,
so a copy never rolls back.

Deleted things may be kept as *tombstones* so that a late event cannot bring them back: a
stored tombstone takes no ordinary write, and the deletion itself applies whatever the stamps
(see :func:`upsert_if_newer`).

:class:`UserDirectory` is the read model most services keep: identity's users."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from contracts.events import Envelope, Payload, UserRegistered, UserUpdated
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

P = TypeVar("P", bound=Payload)


def is_newer(stored: sa.ColumnElement[Any], incoming: Any) -> sa.ColumnElement[bool]:
    """The rule, as SQL: ``incoming`` (a value or an expression) is newer than the ``stored``
    stamp. Use it in a plain ``UPDATE ... WHERE`` of a read model too."""
    newer: sa.ColumnElement[bool] = stored < incoming
    return newer


async def upsert_if_newer(session: AsyncSession, table: sa.Table, values: Mapping[str, Any],
                          *, key: Sequence[str], stamp: str,
                          update: Mapping[str, Any] | None = None,
                          tombstone: sa.ColumnElement[bool] | None = None,
                          deletion: bool = False) -> bool:
    """Write one read-model row: insert ``values``, or update the row stored under the same
    ``key`` columns if ``values[stamp]`` is newer than its stamp (:func:`is_newer`) and it is
    not a ``tombstone`` (SQL that is true for a stored tombstone). Returns whether the row was
    written.

    The update sets every column of ``values`` but the key; ``update`` adds or replaces SET
    entries (SQL expressions may refer to the stored row through ``table.c``).

    ``deletion=True`` writes a tombstone, the one write not held to the rule: nothing follows
    a deletion, and its event may carry the same stamp as the last change (a thing deleted
    without a new version). It applies whatever the stamps; only ``update`` and the greater
    of the two stamps are set on a stored row."""
    statement = insert(table).values(**values)
    incoming = statement.excluded[stamp]
    stored = table.c[stamp]
    if deletion:
        changes: dict[str, Any] = {stamp: sa.func.greatest(stored, incoming)}
        condition: sa.ColumnElement[bool] | None = None
    else:
        changes = {name: statement.excluded[name] for name in values if name not in key}
        condition = is_newer(stored, incoming)
        if tombstone is not None:
            condition = sa.and_(condition, sa.not_(tombstone))
    changes.update(update or {})
    written = await session.execute(statement.on_conflict_do_update(
        index_elements=[table.c[name] for name in key], set_=changes, where=condition,
    ).returning(table.c[key[0]]))
    return written.first() is not None


def payload_handler(kind: type[P], apply: Callable[[AsyncSession, P], Awaitable[Any]]
                    ) -> Callable[[AsyncSession, Envelope], Awaitable[None]]:
    """A consumer handler for events whose payload is a ``kind``: hands the payload to
    ``apply`` (a read-model write that needs nothing else of the envelope)."""

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        payload = envelope.payload()
        if not isinstance(payload, kind):
            raise TypeError(f"{envelope.type} carries {type(payload).__name__}, "
                            f"not {kind.__name__}")
        await apply(session, payload)

    return handler


@dataclass(frozen=True)
class DirectoryUser:
    """One user as a directory knows them."""

    user_id: uuid.UUID
    email: str
    full_name: str


class UserDirectory:
    """A service's copy of identity's users: one row per user in ``table``, with the columns
    ``id_column`` (the user id), ``email``, ``full_name`` and the stamp ``stamp``.

    Fed by ``user.registered`` / ``user.updated`` (:meth:`on_user_event`) and by any other
    event or read-through answer that carries a user's address and name (:meth:`upsert`),
    following the rule of this module: a copy never rolls back."""

    def __init__(self, table: sa.Table, *, id_column: str = "user_id",
                 stamp: str = "as_of") -> None:
        self.table = table
        self.id_column = id_column
        self.stamp = stamp

    async def upsert(self, session: AsyncSession, user_id: uuid.UUID, *, email: str,
                     full_name: str, as_of: datetime) -> None:
        """Write what is known of a user as of ``as_of``; the address is stored the way
        identity keeps it (trimmed, lower-case)."""
        await upsert_if_newer(session, self.table,
                              {self.id_column: user_id, "email": email.strip().lower(),
                               "full_name": full_name, self.stamp: as_of},
                              key=[self.id_column], stamp=self.stamp)

    async def get(self, session: AsyncSession, user_id: uuid.UUID | None) -> DirectoryUser | None:
        """The stored copy of a user, or None."""
        if user_id is None:
            return None
        row = (await session.execute(sa.select(self.table).where(
            self.table.c[self.id_column] == user_id))).first()
        if row is None:
            return None
        return DirectoryUser(user_id, row.email, row.full_name)

    async def on_user_event(self, session: AsyncSession, envelope: Envelope) -> None:
        """Consumer handler of ``user.registered`` and ``user.updated``."""
        user = envelope.payload()
        assert isinstance(user, UserRegistered | UserUpdated)
        await self.upsert(session, user.user_id, email=user.email, full_name=user.full_name,
                          as_of=envelope.occurred_at)
