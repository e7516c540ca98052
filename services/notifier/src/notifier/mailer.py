"""The mailer (the ``mailer`` role of ``python -m chassis.serve notifier``): sends the e-mails
of ``email_outbox`` over SMTP.

* **Woken at commit.** The consumer's transaction that adds e-mail rows runs
  ``pg_notify('notifier_email')``; the mailer ``LISTEN``s, so a new e-mail is claimed within
  milliseconds of the commit. A poll (``mailer_poll_seconds``) and the earliest
  ``next_attempt_at`` of a retry are the only timers.
* **Claim, send, record.** Due rows are claimed with ``FOR UPDATE SKIP LOCKED`` and, in the
  same statement, marked ``sending`` with a lease (``next_attempt_at = now() + lease``) and
  ``attempts + 1``; that commits before the SMTP conversation starts. Right after the server
  accepts the message the row becomes ``sent``. Several mailers may run: they never claim the
  same row at the same time.
* **Failures.** Connection problems, timeouts and 4xx answers are transient: the row goes back
  to ``pending`` with ``next_attempt_at = now() + base * 2^(attempts-1)`` (capped) and the
  error in ``last_error``, until ``mailer_max_attempts``. A 5xx answer is permanent: the row is
  ``failed`` with the server's answer in ``last_error`` (and an ``email_failed`` log line).
* **Crash window.** If the process dies after the server accepted a message but before
  ``sent`` is committed, the row stays ``sending``; when its lease expires a mailer sends it
  again *with the same Message-ID and Date* (both derive from the event and recipient), so
  the recipient's server/MUA sees a duplicate of the same message, never a second distinct
  e-mail. The window is one UPDATE round-trip long.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import psycopg
from chassis.logging import get_logger
from chassis.relay import libpq_dsn
from chassis.worker import Worker
from psycopg.rows import dict_row

from notifier.config import NotifierSettings
from notifier.db import MAIL_CHANNEL, SCHEMA
from notifier.service.email import (
    OutgoingEmail,
    UnknownRecipient,
    compose,
    describe,
    is_permanent,
    send,
)

log = get_logger(__name__)

CLAIM = f"""
WITH due AS (
    SELECT id, status AS was
    FROM "{SCHEMA}".email_outbox
    WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE "{SCHEMA}".email_outbox AS e
    SET status = 'sending', attempts = e.attempts + 1, updated_at = now(),
        next_attempt_at = now() + make_interval(secs => %(lease)s)
    FROM due WHERE e.id = due.id
    RETURNING e.id, e.notification_id, e.user_id, e.message_id, e.attempts, due.was
)
SELECT c.id, c.notification_id, c.user_id, c.message_id, c.attempts, c.was,
       n.type, n.title, n.body, n.data, n.created_at, u.email, u.full_name
FROM claimed AS c
JOIN "{SCHEMA}".notifications AS n ON n.id = c.notification_id
LEFT JOIN "{SCHEMA}".users AS u ON u.user_id = c.user_id
"""

MARK_SENT = f"""
UPDATE "{SCHEMA}".email_outbox
SET status = 'sent', sent_at = now(), updated_at = now(), to_address = %(to)s,
    last_error = NULL
WHERE id = %(id)s AND status = 'sending'
"""

MARK_RETRY = f"""
UPDATE "{SCHEMA}".email_outbox
SET status = 'pending', updated_at = now(), last_error = %(error)s,
    next_attempt_at = now() + make_interval(secs => %(delay)s)
WHERE id = %(id)s AND status = 'sending'
"""

MARK_FAILED = f"""
UPDATE "{SCHEMA}".email_outbox
SET status = 'failed', updated_at = now(), last_error = %(error)s, to_address = %(to)s
WHERE id = %(id)s AND status = 'sending'
"""

NEXT_DUE = f"""
SELECT extract(epoch FROM min(next_attempt_at) - now())
FROM "{SCHEMA}".email_outbox WHERE status IN ('pending', 'sending')
"""


def backoff_seconds(settings: NotifierSettings, attempts: int) -> float:
    """Delay before the next attempt after ``attempts`` failed ones: exponential, capped."""
    delay: float = settings.mailer_backoff_base_seconds * 2.0 ** max(0, attempts - 1)
    return min(delay, settings.mailer_backoff_max_seconds)


class Mailer(Worker):
    def __init__(self, settings: NotifierSettings, *, name: str | None = None) -> None:
        super().__init__(service="notifier", kind="mailer", redis_url=settings.redis_url)
        self.settings = settings
        self.dsn = libpq_dsn(settings.database_url)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.sent = 0
        self.failed = 0
        self.retried = 0
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        # Accepted by the SMTP server but not yet recorded as sent (the database went away
        # in between): outbox id -> address. Recorded before anything else is claimed, so
        # this process never sends them again; only its own death leaves a resend window.
        self._unrecorded: dict[int, str] = {}

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------

    async def close(self) -> None:
        # Nothing is lost on the way out: rows stay pending (or 'sending' until their lease).
        await self._drain()

    async def _listen(self, listener: psycopg.AsyncConnection[Any]) -> None:
        async for _ in listener.notifies():
            self._wake.set()

    async def run_connected(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as listener, \
                await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            self._conn = conn
            await listener.execute(f'LISTEN "{MAIL_CHANNEL}"')
            listening = asyncio.create_task(self._listen(listener))
            log.info("mailer_started", name=self.name, smtp_host=self.settings.smtp_host,
                     smtp_port=self.settings.smtp_port)
            self.connected.set()
            try:
                while not self.stopping:
                    if listening.done():
                        listening.result()  # re-raise a lost listener connection
                        raise psycopg.OperationalError("listener stopped")
                    self._wake.clear()
                    claimed = await self.dispatch()
                    if claimed and len(self._inflight) < self.settings.mailer_concurrency:
                        continue  # there may be more due rows
                    await self._wait(await self._idle_timeout())
            finally:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listening
                await self._drain()
                self._conn = None

    async def _idle_timeout(self) -> float:
        if len(self._inflight) >= self.settings.mailer_concurrency:
            return self.settings.mailer_poll_seconds  # a finishing send wakes us
        assert self._conn is not None
        cur = await self._conn.execute(NEXT_DUE)
        row = await cur.fetchone()
        until_next = row[0] if row and row[0] is not None else None
        timeout = self.settings.mailer_poll_seconds
        if until_next is not None:
            timeout = min(timeout, max(0.01, float(until_next)))
        return timeout

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _drain(self) -> None:
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    # -- one pass -------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[OutgoingEmail]:
        assert self._conn is not None
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(CLAIM, {"limit": limit,
                                      "lease": self.settings.mailer_lease_seconds})
            rows = await cur.fetchall()
        emails = []
        for row in rows:
            if row["was"] == "sending":
                # A mailer died mid-send (lease expired): this may be a second delivery of an
                # already accepted message; it carries the same Message-ID.
                log.warning("email_resend_after_lease", outbox_id=row["id"],
                            message_id=row["message_id"], attempts=row["attempts"])
            emails.append(OutgoingEmail(
                outbox_id=row["id"], notification_id=row["notification_id"],
                user_id=row["user_id"], message_id=row["message_id"], type=row["type"],
                title=row["title"], body=row["body"], data=row["data"],
                created_at=row["created_at"], to_address=row["email"],
                to_name=row["full_name"], attempts=row["attempts"]))
        return emails

    async def dispatch(self) -> int:
        """Claim what is due (up to the free concurrency) and start sending it."""
        free = min(self.settings.mailer_concurrency - len(self._inflight),
                   self.settings.mailer_batch_size)
        if free <= 0:
            return 0
        await self._record_unrecorded()
        emails = [mail for mail in await self.claim(free)
                  if mail.outbox_id not in self._unrecorded]
        for mail in emails:
            task = asyncio.create_task(self.deliver(mail))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(emails)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free: look for more work

    async def run_once(self) -> int:
        """Claim and send everything due now, waiting for the sends (tests, tools)."""
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            self._conn = conn
            total = 0
            try:
                while claimed := await self.dispatch():
                    total += claimed
                    await self._drain()
            finally:
                await self._drain()
                self._conn = None
        return total

    async def deliver(self, mail: OutgoingEmail) -> None:
        try:
            await self._deliver(mail)
        except Exception as exc:
            # Recording the outcome failed (database gone): the row stays 'sending' and is
            # taken up again when its lease ends (a resend, with the same Message-ID).
            log.error("email_outcome_not_recorded", outbox_id=mail.outbox_id,
                      message_id=mail.message_id, error=repr(exc)[:300])

    async def _deliver(self, mail: OutgoingEmail) -> None:
        attempts = mail.attempts
        try:
            if not mail.to_address:
                raise UnknownRecipient(f"no e-mail address known for user {mail.user_id}")
            await send(compose(mail, self.settings), self.settings)
        except Exception as exc:
            await self._failed(mail, attempts, exc)
            return
        try:
            await self._record(MARK_SENT, {"id": mail.outbox_id, "to": mail.to_address})
        except Exception:
            self._unrecorded[mail.outbox_id] = mail.to_address or ""
            raise
        self.sent += 1
        log.info("email_sent", outbox_id=mail.outbox_id, message_id=mail.message_id,
                 notification_type=mail.type, attempts=attempts)

    async def _failed(self, mail: OutgoingEmail, attempts: int, exc: Exception) -> None:
        error = describe(exc)
        if is_permanent(exc) or attempts >= self.settings.mailer_max_attempts:
            await self._record(MARK_FAILED, {"id": mail.outbox_id, "error": error,
                                             "to": mail.to_address})
            self.failed += 1
            log.error("email_failed", outbox_id=mail.outbox_id, message_id=mail.message_id,
                      attempts=attempts, error=error,
                      reason="permanent" if is_permanent(exc) else "too many attempts")
            return
        delay = backoff_seconds(self.settings, attempts)
        await self._record(MARK_RETRY, {"id": mail.outbox_id, "error": error, "delay": delay})
        self.retried += 1
        log.warning("email_retry_scheduled", outbox_id=mail.outbox_id,
                    message_id=mail.message_id, attempts=attempts, delay_seconds=delay,
                    error=error)

    async def _record_unrecorded(self) -> None:
        """Record the sends a database outage interrupted (raises while it lasts)."""
        for outbox_id, address in list(self._unrecorded.items()):
            await self._record(MARK_SENT, {"id": outbox_id, "to": address})
            del self._unrecorded[outbox_id]
            self.sent += 1
            log.info("email_sent_recorded_late", outbox_id=outbox_id)

    async def _record(self, statement: str, params: dict[str, Any]) -> None:
        assert self._conn is not None
        await self._conn.execute(statement, params)
