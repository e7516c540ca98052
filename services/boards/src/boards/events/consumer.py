"""The boards consumer (the ``consumer`` role of ``python -m chassis.serve boards``).

Consumer group ``boards`` on ``workspace.events`` (project memberships, the read model behind
every permission check; project deletion cascades) and ``identity.events`` (the user
directory that names people in activity summaries). The same process runs the background
rank rebalancer.
"""

from __future__ import annotations

import asyncio
import contextlib

from chassis.consumer import EventConsumer, Handler
from chassis.logging import get_logger
from contracts.streams import IDENTITY_EVENTS, WORKSPACE_EVENTS

from boards.config import BoardsSettings
from boards.db import processed_events
from boards.service import read_model
from boards.service.rebalance import rebalance_long_ranks

log = get_logger(__name__)

GROUP = "boards"
STREAMS = [WORKSPACE_EVENTS, IDENTITY_EVENTS]

HANDLERS: dict[str, Handler] = {
    "user.registered": read_model.directory.on_user_event,
    "user.updated": read_model.directory.on_user_event,
    "project.created": read_model.on_project_created,
    "project.updated": read_model.on_project_updated,
    "project.deleted": read_model.on_project_deleted,
    "project.member_added": read_model.on_member_added_or_changed,
    "project.member_role_changed": read_model.on_member_added_or_changed,
    "project.member_removed": read_model.on_member_removed,
    "team.member_removed": read_model.on_team_member_removed,
    "team.deleted": read_model.on_team_deleted,
}


class BoardsConsumer(EventConsumer):
    """The shared consumer plus the periodic rebalancer task."""

    settings: BoardsSettings

    def __init__(self, settings: BoardsSettings, *, consumer_name: str | None = None) -> None:
        super().__init__(group=GROUP, streams=STREAMS, handlers=HANDLERS,
                         processed_events=processed_events, settings=settings,
                         consumer_name=consumer_name)
        self._rebalancer: asyncio.Task[None] | None = None

    async def _rebalance_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rebalance_interval_seconds)
            try:
                await rebalance_long_ranks(self.sessions, self.settings.rebalance_rank_length)
            except Exception as exc:  # keep consuming even if a pass fails
                log.warning("rebalance_failed", error=repr(exc)[:500])

    async def run(self) -> None:
        self._rebalancer = asyncio.create_task(self._rebalance_forever())
        await super().run()

    async def close(self) -> None:
        # Before the base disposes of the engine the rebalancer uses.
        if self._rebalancer is not None:
            self._rebalancer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rebalancer
        await super().close()
