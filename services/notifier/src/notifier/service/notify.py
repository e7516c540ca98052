"""Making a notification: the in-app row and, if the recipient wants it, the e-mail to send,
both in the caller's (the consumer's) transaction.

Exactly once per (event, recipient): ``notifications`` and ``email_outbox`` are unique on
``(event_id, user_id)`` and inserted with ``ON CONFLICT DO NOTHING``; the e-mail row is only
written when the notification row was new. The Message-ID is derived from the same pair, so
even a resend after a crash carries the Message-ID of the first attempt."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from contracts.events import Envelope
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.db import MAIL_CHANNEL, SCHEMA
from notifier.models import NOTIFICATION_TYPES

# Namespace of the derived ids (notification id and Message-ID).
NOTIFIER_NAMESPACE = uuid.UUID("8a0c2f4e-5b7d-4b0e-9a51-1c6f3d2e7b90")


@dataclass(frozen=True)
class Draft:
    """One notification for one recipient, before it is stored."""

    user_id: uuid.UUID
    type: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    # Optional: the same fact reported by two different events is told once.
    dedupe_key: str | None = None


def notification_id(event_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID:
    """Deterministic: a redelivered event maps to the same notification."""
    return uuid.uuid5(NOTIFIER_NAMESPACE, f"notification:{event_id}:{user_id}")


def message_id(event_id: uuid.UUID, user_id: uuid.UUID, host: str) -> str:
    """The stable RFC 5322 Message-ID of the e-mail for (event, recipient)."""
    return f"<{uuid.uuid5(NOTIFIER_NAMESPACE, f'email:{event_id}:{user_id}')}@{host}>"


@dataclass
class Outcome:
    notified: list[uuid.UUID] = field(default_factory=list)
    emailed: list[uuid.UUID] = field(default_factory=list)


def _store_statement(envelope: Envelope, draft: Draft, *, message_id_host: str,
                     created_at: datetime) -> sa.TextClause:
    """One round trip per recipient: the notification (if new), the recipient's e-mail
    switch for its type (default on), the e-mail row (if new and wanted) and, for a new
    e-mail, the NOTIFY that wakes the mailer at commit."""
    switch = f"email_{draft.type}"
    assert draft.type in NOTIFICATION_TYPES  # the column name below comes from a fixed set
    return sa.text(f"""
        WITH made AS (
            INSERT INTO "{SCHEMA}".notifications
                (id, user_id, type, title, body, data, created_at, event_id, dedupe_key)
            VALUES (:id, :user_id, :type, :title, :body, :data, :created_at, :event_id,
                    :dedupe_key)
            ON CONFLICT DO NOTHING
            RETURNING id
        ), wanted AS (
            SELECT coalesce((SELECT {switch} FROM "{SCHEMA}".preferences
                             WHERE user_id = :user_id), true) AS yes
        ), queued AS (
            INSERT INTO "{SCHEMA}".email_outbox
                (notification_id, event_id, user_id, message_id, status, next_attempt_at)
            SELECT made.id, :event_id, :user_id, :message_id, 'pending', now()
            FROM made, wanted WHERE wanted.yes
            ON CONFLICT DO NOTHING
            RETURNING id
        )
        SELECT (SELECT count(*) FROM made) AS made,
               (SELECT count(*) FROM queued) AS queued,
               (SELECT count(pg_notify(:channel, '')) FROM queued) AS woken
    """).bindparams(
        sa.bindparam("data", type_=JSONB), id=notification_id(envelope.event_id, draft.user_id),
        user_id=draft.user_id, type=draft.type, title=draft.title, body=draft.body,
        data=draft.data, created_at=created_at, event_id=envelope.event_id,
        dedupe_key=draft.dedupe_key, channel=MAIL_CHANNEL,
        message_id=message_id(envelope.event_id, draft.user_id, message_id_host))


async def deliver(session: AsyncSession, envelope: Envelope, drafts: list[Draft], *,
                  message_id_host: str, created_at: datetime | None = None) -> Outcome:
    """Store ``drafts`` for ``envelope``; never tells the actor about their own action.

    A notification that exists already (same event and recipient, or the same
    ``dedupe_key``) is skipped with its e-mail: a redelivered event changes nothing."""
    outcome = Outcome()
    seen: set[uuid.UUID] = set()
    for draft in drafts:
        if draft.user_id == envelope.actor_id or draft.user_id in seen:
            continue
        seen.add(draft.user_id)
        row = (await session.execute(_store_statement(
            envelope, draft, message_id_host=message_id_host,
            created_at=created_at or envelope.occurred_at))).one()
        if row.made:
            outcome.notified.append(draft.user_id)
        if row.queued:
            outcome.emailed.append(draft.user_id)
    return outcome
