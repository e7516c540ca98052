"""The mailer against real SMTP servers: the devstack sink, a closed port, and aiosmtpd
servers answering 4xx/5xx. Retries, permanent failures, the crash window, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from chassis.worker import running
from devstack.infra import SmtpSink, free_port
from notifier.config import NotifierSettings
from notifier.mailer import Mailer, backoff_seconds
from notifier.service.email import OutgoingEmail, compose

from services.notifier.tests.notifier_helpers import (
    Mailbox,
    Person,
    Task,
    eventually,
)


class Answer:
    """An aiosmtpd handler refusing every recipient with a fixed SMTP answer."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.attempts = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.attempts += 1
        return self.answer


@contextmanager
def smtp_server(answer: str) -> Iterator[tuple[int, Answer]]:
    handler = Answer(answer)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def outbox_of(rows, person: Person) -> list[dict]:
    return rows("SELECT * FROM notifier.email_outbox WHERE user_id = :u ORDER BY id", u=person.id)


async def assignment(process, assignee: Person, *, register: bool = True):
    actor = Person()
    task = Task(created_by=actor.id)
    event = task.assign(assignee.id, actor=actor.id)
    await process(*([assignee.registered()] if register else []), event)
    return event


async def test_smtp_down_then_back_the_email_arrives_after_it_comes_back(
        settings, process, rows, tmp_path):
    port = free_port()  # nothing listens here yet
    down = settings.model_copy(update={"smtp_port": port})
    assignee = Person()
    async with running(Mailer(down)):
        await assignment(process, assignee)

        async def retried() -> bool:
            [row] = outbox_of(rows, assignee)
            return row["attempts"] >= 2 and row["status"] == "pending"
        await eventually(retried)
        [row] = outbox_of(rows, assignee)
        assert "Connect" in row["last_error"] or "refused" in row["last_error"].lower()
        assert row["sent_at"] is None

        sink = SmtpSink(tmp_path / "smtp", port=port).start()
        try:
            [mail] = await Mailbox(sink.messages).wait_for(assignee.email)
        finally:
            sink.stop()
    [row] = outbox_of(rows, assignee)
    assert row["status"] == "sent" and row["attempts"] >= 3
    assert row["last_error"] is None
    assert mail["Message-ID"] == row["message_id"]


async def test_a_5xx_answer_is_a_permanent_failure_recorded_and_visible(
        settings, process, rows, client, token):
    assignee = Person()
    with smtp_server("550 5.1.1 Mailbox unavailable") as (port, handler):
        async with running(Mailer(settings.model_copy(update={"smtp_port": port}))):
            await assignment(process, assignee)

            async def failed() -> bool:
                return outbox_of(rows, assignee)[0]["status"] == "failed"
            await eventually(failed)
            await asyncio.sleep(0.3)  # no further attempt follows
    [row] = outbox_of(rows, assignee)
    assert row["attempts"] == 1 and handler.attempts == 1
    assert row["last_error"].startswith("550 5.1.1 Mailbox unavailable")
    assert row["to_address"] == assignee.email
    # Visible to the user on the notification too.
    listed = (await client.get("/api/v1/notifications", headers=token(assignee.id))).json()
    assert [item["email_status"] for item in listed["items"]] == ["failed"]


async def test_4xx_answers_are_retried_with_backoff_then_given_up_after_max_attempts(
        settings, process, rows):
    assignee = Person()
    with smtp_server("451 4.3.0 Try again later") as (port, handler):
        limited = settings.model_copy(update={"smtp_port": port, "mailer_max_attempts": 3})
        async with running(Mailer(limited)):
            await assignment(process, assignee)

            async def failed() -> bool:
                return outbox_of(rows, assignee)[0]["status"] == "failed"
            await eventually(failed)
    [row] = outbox_of(rows, assignee)
    assert row["attempts"] == 3 and handler.attempts == 3
    assert row["last_error"].startswith("451 4.3.0")


async def test_an_unknown_recipient_waits_for_the_directory_then_is_sent(
        settings, process, rows, mailbox):
    assignee = Person()
    async with running(Mailer(settings)):
        await assignment(process, assignee, register=False)

        async def waiting() -> bool:
            row = outbox_of(rows, assignee)[0]
            return row["status"] == "pending" and row["attempts"] >= 1
        await eventually(waiting)
        assert "no e-mail address known" in outbox_of(rows, assignee)[0]["last_error"]
        await process(assignee.registered())
        await mailbox.wait_for(assignee.email)
    assert outbox_of(rows, assignee)[0]["status"] == "sent"


async def test_a_crash_between_send_and_record_resends_with_the_same_message_id(
        settings, process, rows, mailbox, db):
    """kill -9 after the server accepted but before 'sent' committed leaves the row
    'sending'; once its lease expires it is sent again, as the same message."""
    assignee = Person()
    await assignment(process, assignee)
    assert await Mailer(settings).run_once() >= 1
    [first] = await mailbox.wait_for(assignee.email)
    # Put the row back where a killed mailer leaves it: claimed, lease expired.
    with db.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE notifier.email_outbox SET status = 'sending', sent_at = NULL, "
            "next_attempt_at = now() - interval '1 second' WHERE user_id = %(u)s",
            {"u": assignee.id})
    assert await Mailer(settings).run_once() >= 1
    first_copy, second_copy = await mailbox.wait_for(assignee.email, count=2)
    assert first_copy["Message-ID"] == second_copy["Message-ID"] == first["Message-ID"]
    assert first_copy["Date"] == second_copy["Date"]
    [row] = outbox_of(rows, assignee)
    assert row["status"] == "sent" and row["attempts"] == 2


async def test_a_row_claimed_by_a_live_mailer_is_not_taken_over_before_its_lease_ends(
        settings, process, rows, db):
    assignee = Person()
    await assignment(process, assignee)
    with db.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE notifier.email_outbox SET status = 'sending', attempts = 1, "
            "next_attempt_at = now() + interval '1 minute' WHERE user_id = %(u)s",
            {"u": assignee.id})
    assert await Mailer(settings).run_once() == 0
    assert outbox_of(rows, assignee)[0]["status"] == "sending"
    with db.begin() as conn:  # leave nothing due behind for other tests
        conn.exec_driver_sql("UPDATE notifier.email_outbox SET status = 'failed' "
                             "WHERE user_id = %(u)s", {"u": assignee.id})


async def test_two_mailers_never_send_the_same_email_twice(settings, process, rows, mailbox):
    people = [Person() for _ in range(20)]
    for person in people:
        await assignment(process, person)
    counts = await asyncio.gather(Mailer(settings, name="a").run_once(),
                                  Mailer(settings, name="b").run_once())
    assert sum(counts) >= 20
    for person in people:
        assert len(await mailbox.wait_for(person.email)) == 1
        [row] = outbox_of(rows, person)
        assert row["status"] == "sent" and row["attempts"] == 1
    await asyncio.sleep(0.2)
    assert all(len(mailbox.to(person.email)) == 1 for person in people)


def test_backoff_is_exponential_and_capped():
    settings = NotifierSettings(mailer_backoff_base_seconds=2, mailer_backoff_max_seconds=30)
    assert [backoff_seconds(settings, n) for n in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]


def test_a_title_cannot_inject_headers_and_html_is_escaped():
    mail = OutgoingEmail(
        outbox_id=1, notification_id=Person().id, user_id=Person().id,
        message_id="<x@kanban.localhost>", type="comment",
        title='New comment on "a\r\nBcc: victim@example.com"',
        body="<script>alert(1)</script>", data={}, created_at=datetime.now(UTC),
        to_address="someone@example.com", to_name="Eve\nBcc: x@example.com")
    message = compose(mail, NotifierSettings())
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_settings_refuse_two_tls_modes_and_production_defaults():
    with pytest.raises(ValueError, match="exclusive"):
        NotifierSettings(smtp_tls=True, smtp_starttls=True)
    with pytest.raises(ValueError, match="mail_from"):
        NotifierSettings(environment="production", database_url="postgresql+psycopg://u:p@h/d",
                         cursor_secret="s" * 32)
    assert NotifierSettings(mail_from="Kanban <noreply@example.org>").message_id_host == \
        "example.org"


class AcceptSlowly:
    """Stores each message, then answers 250 only after a pause: a window in which the
    message is in the server's hands but the client has not heard back."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(envelope.original_content or envelope.content)
        await asyncio.sleep(5)
        return "250 OK"


async def test_a_mailer_killed_mid_send_is_taken_over_with_the_same_message_id(
        settings, process, rows, mailbox, database_url, redis_url):
    import email
    import email.policy
    import os
    import signal
    import subprocess
    import sys

    handler = AcceptSlowly()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    env = {**os.environ, "NOTIFIER_DATABASE_URL": database_url, "NOTIFIER_REDIS_URL": redis_url,
           "NOTIFIER_SMTP_PORT": str(port), "NOTIFIER_MAILER_LEASE_SECONDS": "2"}
    mailer = subprocess.Popen([sys.executable, "-m", "chassis.serve", "notifier",
                               "--role", "mailer"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assignee = Person()
    try:
        await assignment(process, assignee)

        async def in_the_servers_hands() -> bool:
            return bool(handler.received)
        await eventually(in_the_servers_hands, timeout=60)
        mailer.send_signal(signal.SIGKILL)
        mailer.wait(10)
    finally:
        if mailer.poll() is None:
            mailer.kill()
        controller.stop()
    [row] = outbox_of(rows, assignee)
    assert row["status"] == "sending" and row["attempts"] == 1  # the outcome never recorded

    await asyncio.sleep(2.1)  # the dead mailer's lease ends
    assert await Mailer(settings).run_once() >= 1
    [resent] = await mailbox.wait_for(assignee.email)
    first = email.message_from_bytes(handler.received[0], policy=email.policy.default)
    assert resent["Message-ID"] == first["Message-ID"] == row["message_id"]
    [row] = outbox_of(rows, assignee)
    assert row["status"] == "sent" and row["attempts"] == 2
