"""The workspace consumer (``python -m workspace.events.consumer``): group ``workspace`` on
``identity.events``, keeping the user directory in step with identity."""

from __future__ import annotations

from chassis.consumer import EventConsumer, Handler, run_consumer
from contracts.events import Envelope, UserRegistered, UserUpdated
from contracts.streams import IDENTITY_EVENTS
from sqlalchemy.ext.asyncio import AsyncSession

from workspace.config import WorkspaceSettings
from workspace.db import processed_events
from workspace.service.directory import upsert_user

GROUP = "workspace"


async def on_user_changed(session: AsyncSession, envelope: Envelope) -> None:
    """user.registered / user.updated -> upsert, unless the copy is newer than the event."""
    payload = envelope.payload()
    assert isinstance(payload, UserRegistered | UserUpdated)
    await upsert_user(session, user_id=payload.user_id, email=payload.email,
                      full_name=payload.full_name, as_of=envelope.occurred_at)


HANDLERS: dict[str, Handler] = {
    "user.registered": on_user_changed,
    "user.updated": on_user_changed,
}


def build_consumer(settings: WorkspaceSettings | None = None, *,
                   consumer_name: str | None = None) -> EventConsumer:
    return EventConsumer(group=GROUP, streams=[IDENTITY_EVENTS], handlers=HANDLERS,
                         processed_events=processed_events,
                         settings=settings or WorkspaceSettings(), consumer_name=consumer_name)


def main() -> None:
    run_consumer(build_consumer(), "workspace")


if __name__ == "__main__":
    main()
