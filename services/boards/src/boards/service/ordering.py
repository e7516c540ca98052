"""Where a placed or moved item goes: a new rank between its future neighbours.

Callers hold a lock on the container row (the board for lists, the target list for tasks)
while they compute the rank and write it, so two concurrent moves into the same gap are
serialised and never get the same rank; the unique (container, position) constraint is the
backstop. Each neighbour is found with one index probe on (container, position), so the cost
does not depend on the length of the list, and only the moved row is written.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from chassis.errors import Unprocessable
from sqlalchemy.ext.asyncio import AsyncSession

from boards.domain import rank


async def new_position(session: AsyncSession, table: sa.Table, container: sa.Column[Any],
                       container_id: uuid.UUID, *, moving_id: uuid.UUID | None = None,
                       before_id: uuid.UUID | None = None, after_id: uuid.UUID | None = None,
                       kind: str = "task", container_kind: str = "list") -> str:
    """The rank for an item placed immediately before ``before_id`` and/or immediately after
    ``after_id`` (both: they must be neighbours), or at the end when neither is given.
    ``moving_id`` (the item being moved) is ignored as a neighbour."""
    position = table.c.position
    others = [container == container_id]
    if moving_id is not None:
        others.append(table.c.id != moving_id)

    async def reference(ref_id: uuid.UUID, field: str) -> str:
        if ref_id == moving_id:
            raise Unprocessable(f"{field} cannot be the {kind} being moved", loc=["body", field])
        found: str | None = (await session.execute(
            sa.select(position).where(table.c.id == ref_id, container == container_id)
        )).scalar_one_or_none()
        if found is None:
            raise Unprocessable(f"{field} is not a {kind} of the target {container_kind}",
                                loc=["body", field])
        return found

    async def neighbour(*condition: Any, descending: bool) -> Any:
        order = position.desc() if descending else position.asc()
        return (await session.execute(
            sa.select(table.c.id, position).where(*others, *condition).order_by(order).limit(1)
        )).first()

    if before_id is not None and after_id is not None:
        upper = await reference(before_id, "before_id")
        lower = await reference(after_id, "after_id")
        following = await neighbour(position > lower, descending=False)
        if following is None or following.id != before_id:
            raise Unprocessable("before_id and after_id must be neighbours (after_id "
                                "immediately followed by before_id)", loc=["body"])
        return rank.between(lower, upper)
    if before_id is not None:
        upper = await reference(before_id, "before_id")
        previous = await neighbour(position < upper, descending=True)
        return rank.between(previous.position if previous else None, upper)
    if after_id is not None:
        lower = await reference(after_id, "after_id")
        following = await neighbour(position > lower, descending=False)
        return rank.between(lower, following.position if following else None)
    last = await neighbour(descending=True)
    return rank.between(last.position if last else None, None)
