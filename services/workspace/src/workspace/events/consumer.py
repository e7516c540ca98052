"""The workspace consumer (the ``consumer`` role of ``python -m chassis.serve workspace``):
group ``workspace`` on ``identity.events``, keeping the user directory in step with identity."""

from __future__ import annotations

from chassis.consumer import EventConsumer, Handler
from contracts.streams import IDENTITY_EVENTS

from workspace.config import WorkspaceSettings
from workspace.db import processed_events
from workspace.service.directory import users

GROUP = "workspace"


HANDLERS: dict[str, Handler] = {
    "user.registered": users.on_user_event,
    "user.updated": users.on_user_event,
}


def build_consumer(settings: WorkspaceSettings | None = None, *,
                   consumer_name: str | None = None) -> EventConsumer:
    return EventConsumer(group=GROUP, streams=[IDENTITY_EVENTS], handlers=HANDLERS,
                         processed_events=processed_events,
                         settings=settings or WorkspaceSettings(), consumer_name=consumer_name)
