"""Background rebalancing of ranks (never on a request path).

Ranks only grow when items are repeatedly inserted into the same gap. When a list's (or a
board's) longest rank passes ``rebalance_rank_length`` characters, its items get fresh, short,
evenly spaced ranks in their current order, in one transaction that holds the same lock a
move takes, so no move interleaves. Versions are not changed: the order is the same and
positions are opaque.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from chassis.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boards.db import SCHEMA
from boards.domain.rank import spread
from boards.models import boards, lists, tasks
from boards.service.lists import lock_list

log = get_logger(__name__)


async def _respread(session: AsyncSession, table: sa.Table, container: sa.Column[Any],
                    container_id: uuid.UUID, constraint: str) -> int:
    await session.execute(sa.text(f'SET CONSTRAINTS "{SCHEMA}"."{constraint}" DEFERRED'))
    ids = (await session.execute(sa.select(table.c.id).where(container == container_id)
                                 .order_by(table.c.position))).scalars().all()
    if not ids:
        return 0
    values = sa.values(sa.column("id", table.c.id.type), sa.column("position", sa.Text),
                       name="ranked").data(list(zip(ids, spread(len(ids)), strict=True)))
    await session.execute(table.update().where(table.c.id == values.c.id)
                          .values(position=values.c.position))
    return len(ids)


async def rebalance_list(session: AsyncSession, list_id: uuid.UUID) -> int:
    target = (await session.execute(sa.select(lists).where(lists.c.id == list_id))).first()
    if target is None:
        return 0
    await lock_list(session, target)
    return await _respread(session, tasks, tasks.c.list_id, list_id,
                           "uq_tasks_list_id_position")


async def rebalance_board(session: AsyncSession, board_id: uuid.UUID) -> int:
    locked = (await session.execute(sa.select(boards.c.id).where(boards.c.id == board_id)
                                    .with_for_update(key_share=True))).first()
    if locked is None:
        return 0
    return await _respread(session, lists, lists.c.board_id, board_id,
                           "uq_lists_board_id_position")


async def rebalance_long_ranks(sessions: async_sessionmaker[AsyncSession],
                               max_length: int) -> int:
    """Rebalance every list and board holding a rank longer than ``max_length``; each in its
    own short transaction. Returns how many containers were rebalanced."""
    async with sessions() as session:
        list_ids = (await session.execute(
            sa.select(tasks.c.list_id).where(sa.func.length(tasks.c.position) > max_length)
            .distinct())).scalars().all()
        board_ids = (await session.execute(
            sa.select(lists.c.board_id).where(sa.func.length(lists.c.position) > max_length)
            .distinct())).scalars().all()
    for list_id in list_ids:
        async with sessions() as session, session.begin():
            count = await rebalance_list(session, list_id)
        log.info("list_rebalanced", list_id=str(list_id), tasks=count)
    for board_id in board_ids:
        async with sessions() as session, session.begin():
            count = await rebalance_board(session, board_id)
        log.info("board_rebalanced", board_id=str(board_id), lists=count)
    return len(list_ids) + len(board_ids)
