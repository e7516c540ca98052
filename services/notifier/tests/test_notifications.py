"""Events in, notifications and e-mails out: the real consumer (through Redis) and the real
mailer against the SMTP sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chassis.worker import running
from notifier.mailer import Mailer
from notifier.service.notify import message_id

from services.notifier.tests.notifier_helpers import (
    Person,
    Task,
    eventually,
    project_member_added,
    redelivered,
    team_member_added,
)


def notifications_of(rows, person: Person) -> list[dict]:
    return rows("SELECT * FROM notifier.notifications WHERE user_id = :u ORDER BY created_at",
                u=person.id)


def emails_of(rows, person: Person) -> list[dict]:
    return rows("SELECT * FROM notifier.email_outbox WHERE user_id = :u ORDER BY id",
                u=person.id)


async def test_an_assignment_tells_the_assignee_in_app_and_by_exactly_one_email(
        bus, settings, rows, mailbox):
    actor, assignee = Person(full_name="Grace Hopper"), Person(full_name="Alan Turing")
    task = Task(created_by=actor.id, title="Ship the release")
    await bus.feed(actor.registered(), assignee.registered())
    await bus.feed(task.created())
    assigned = task.assign(assignee.id, actor=actor.id)
    async with running(Mailer(settings)):
        await bus.feed(assigned)
        [mail] = await mailbox.wait_for(assignee.email)

    [note] = notifications_of(rows, assignee)
    assert note["type"] == "task_assigned"
    assert note["event_id"] == assigned.event_id
    assert "Ship the release" in note["title"]
    assert note["body"].startswith("Grace Hopper assigned you")
    assert note["data"]["task_id"] == str(task.task_id)
    assert note["read_at"] is None
    assert notifications_of(rows, actor) == []  # never the actor

    # The e-mail: multipart/alternative with a text and an HTML part, a stable Message-ID.
    assert mail.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in mail.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "Grace Hopper assigned you" in parts["text/plain"]
    assert "Hi Alan Turing" in parts["text/plain"]
    assert "<html>" in parts["text/html"] and "Ship the release" in parts["text/html"]
    assert mail["Message-ID"] == message_id(assigned.event_id, assignee.id,
                                            settings.message_id_host)
    assert assignee.email in mail["To"]
    assert "Ship the release" in mail["Subject"]
    assert mailbox.to(actor.email) == []
    [outbox] = emails_of(rows, assignee)
    assert outbox["status"] == "sent" and outbox["attempts"] == 1
    assert outbox["to_address"] == assignee.email and outbox["sent_at"] is not None


async def test_nobody_is_told_about_their_own_assignment(bus, rows):
    me = Person()
    task = Task(created_by=me.id)
    await bus.feed(me.registered(), task.created(), task.assign(me.id, actor=me.id))
    assert notifications_of(rows, me) == []
    assert emails_of(rows, me) == []


async def test_a_new_task_with_an_assignee_notifies_once_even_with_a_task_assigned_too(
        bus, rows):
    """task.created (with an assignee) and task.assigned of the same version are one fact."""
    actor, assignee = Person(), Person()
    task = Task(created_by=actor.id, assignee_id=assignee.id)
    created = task.created()
    from contracts.events import TaskAssigned, make_event
    same_version = make_event("task.assigned", TaskAssigned(**task.snapshot()),
                              producer="boards", actor_id=actor.id)
    await bus.feed(assignee.registered(), created, same_version)
    [note] = notifications_of(rows, assignee)
    assert note["type"] == "task_assigned" and note["event_id"] == created.event_id
    assert len(emails_of(rows, assignee)) == 1
    # A later, real re-assignment (new version) is news again.
    task.assign(None, actor=actor.id)
    await bus.feed(task.assign(assignee.id, actor=actor.id))
    assert len(notifications_of(rows, assignee)) == 2


async def test_with_the_email_preference_off_only_the_in_app_notification_is_made(
        bus, client, token, rows, settings, mailbox):
    actor, assignee = Person(), Person()
    response = await client.put("/api/v1/notifications/preferences",
                                json={"email": {"task_assigned": False}},
                                headers=token(assignee.id))
    assert response.status_code == 200, response.text
    task = Task(created_by=actor.id)
    async with running(Mailer(settings)):
        await bus.feed(assignee.registered(), task.assign(assignee.id, actor=actor.id))
        [note] = notifications_of(rows, assignee)
        assert emails_of(rows, assignee) == []
        # Other types still e-mail: the comment of someone else arrives by mail.
        await bus.feed(task.comment(actor.id, "Please look at this"))
        await mailbox.wait_for(assignee.email)
    listed = (await client.get("/api/v1/notifications", headers=token(assignee.id))).json()
    by_type = {item["type"]: item for item in listed["items"]}
    assert by_type["task_assigned"]["email_status"] is None
    assert by_type["comment"]["email_status"] == "sent"
    assert len(mailbox.to(assignee.email)) == 1


async def test_a_comment_tells_the_assignee_and_the_creator_but_not_the_author(bus, rows):
    creator, assignee, author = Person(), Person(), Person(full_name="Linus")
    task = Task(created_by=creator.id, assignee_id=assignee.id, title="Review docs")
    comment = task.comment(author.id, "I have   a question\nabout this")
    await bus.feed(author.registered())
    await bus.feed(comment)
    for person in (creator, assignee):
        [note] = notifications_of(rows, person)
        assert note["type"] == "comment"
        assert note["title"] == 'New comment on "Review docs"'
        assert note["body"] == "Linus: I have a question about this"
        assert note["data"]["comment_id"] == comment.data["comment_id"]
        assert note["data"]["author_id"] == str(author.id)
    assert notifications_of(rows, author) == []


async def test_a_creator_who_left_the_project_is_not_told_of_comments(bus, rows):
    """Telling them would show a comment of a project they can no longer see."""
    creator, assignee, author = Person(), Person(), Person()
    task = Task(created_by=creator.id, assignee_id=assignee.id)
    await bus.feed(task.comment(author.id, "secret", creator_in_project=False))
    assert notifications_of(rows, creator) == []
    assert [n["type"] for n in notifications_of(rows, assignee)] == ["comment"]


async def test_the_author_of_a_comment_is_not_told_even_as_assignee_or_creator(bus, rows):
    creator, assignee = Person(), Person()
    task = Task(created_by=creator.id, assignee_id=assignee.id)
    await bus.feed(task.comment(assignee.id), task.comment(creator.id))
    assert [n["type"] for n in notifications_of(rows, creator)] == ["comment"]
    assert [n["type"] for n in notifications_of(rows, assignee)] == ["comment"]
    # Creator == assignee commenting on their own task: nobody.
    solo = Person()
    own = Task(created_by=solo.id, assignee_id=solo.id)
    await bus.feed(own.comment(solo.id))
    assert notifications_of(rows, solo) == []


async def test_being_added_to_a_team_or_a_project_is_a_membership_notification(
        bus, rows, settings, mailbox):
    admin, newcomer = Person(full_name="Margaret"), Person()
    await bus.feed(admin.registered())
    async with running(Mailer(settings)):
        await bus.feed(team_member_added(newcomer, actor=admin.id, team_name="Core"),
                       project_member_added(newcomer, actor=admin.id, project_name="Apollo"))
        await mailbox.wait_for(newcomer.email, count=2)
    notes = notifications_of(rows, newcomer)
    assert [n["type"] for n in notes] == ["membership", "membership"]
    team, project = notes
    assert team["data"] == {"kind": "team", "team_id": team["data"]["team_id"],
                            "team_name": "Core", "role": "member"}
    assert team["body"] == 'Margaret added you to the team "Core" as member.'
    assert project["data"]["kind"] == "project"
    assert project["data"]["project_name"] == "Apollo"
    assert project["data"]["role"] == "editor"
    # The directory learnt the newcomer's address from the membership event itself.
    [user] = rows("SELECT * FROM notifier.users WHERE user_id = :u", u=newcomer.id)
    assert user["email"] == newcomer.email


async def test_implicit_project_roles_role_changes_and_self_joins_are_not_notified(bus, rows):
    from contracts.events import TeamMemberRoleChanged, make_event
    admin, user = Person(), Person()
    await bus.feed(
        project_member_added(user, actor=admin.id, implicit=True, role="admin"),
        make_event("team.member_role_changed", TeamMemberRoleChanged(
            team_id=user.id, team_name="T", user_id=user.id, email=user.email,
            full_name=user.full_name, old_role="member", role="admin"),
            producer="workspace", actor_id=admin.id),
        # A team's creator is its first member: they added themselves.
        team_member_added(user, actor=user.id, role="owner"))
    assert notifications_of(rows, user) == []


async def test_the_same_event_delivered_twice_makes_one_notification_and_one_email(
        bus, rows, settings, mailbox):
    actor, assignee = Person(), Person()
    task = Task(created_by=actor.id)
    assigned = task.assign(assignee.id, actor=actor.id)
    async with running(Mailer(settings)) as mailer:
        await bus.feed(assignee.registered(), assigned, redelivered(assigned))
        await bus.feed(redelivered(assigned))  # and once more, later
        await mailbox.wait_for(assignee.email)
        await eventually(lambda: _no_pending(rows, assignee))
        assert mailer.sent >= 1
    assert len(notifications_of(rows, assignee)) == 1
    assert len(emails_of(rows, assignee)) == 1
    assert len(mailbox.to(assignee.email)) == 1
    [processed] = rows("SELECT count(*) AS n FROM notifier.processed_events WHERE event_id = :e",
                       e=assigned.event_id)
    assert processed["n"] == 1


async def _no_pending(rows, person: Person) -> bool:
    return not rows("SELECT id FROM notifier.email_outbox WHERE user_id = :u "
                    "AND status IN ('pending', 'sending')", u=person.id)


async def test_reminders_tell_the_assignee_due_soon_and_overdue(bus, rows, settings, mailbox):
    assignee = Person()
    due = datetime(2031, 5, 17, 14, 30, tzinfo=UTC)
    task = Task(created_by=Person().id, assignee_id=assignee.id, title="Pay taxes", due_at=due)
    async with running(Mailer(settings)):
        await bus.feed(assignee.registered(), task.reminder("due_soon"),
                       task.reminder("overdue"))
        mails = await mailbox.wait_for(assignee.email, count=2)
    soon, overdue = notifications_of(rows, assignee)
    assert soon["type"] == "due_soon" and overdue["type"] == "overdue"
    assert soon["body"] == 'Your task "Pay taxes" is due 2031-05-17 14:30 UTC.'
    assert overdue["body"] == 'Your task "Pay taxes" was due 2031-05-17 14:30 UTC.'
    assert soon["data"]["due_at"] == "2031-05-17T14:30:00Z"
    assert {m["Subject"] for m in mails} == {'"Pay taxes" is due soon', '"Pay taxes" is overdue'}


async def test_a_reminder_for_a_task_known_to_be_deleted_is_dropped(bus, rows):
    creator, assignee = Person(), Person()
    task = Task(created_by=creator.id, assignee_id=assignee.id,
                due_at=datetime.now(UTC) + timedelta(hours=2))
    await bus.feed(task.created(actor=assignee.id), task.deleted(actor=creator.id))
    await bus.feed(task.reminder("due_soon"))
    assert notifications_of(rows, assignee) == []


async def test_a_changed_address_is_used_for_the_next_email_and_old_events_do_not_win(
        bus, rows, settings, mailbox):
    actor, user = Person(), Person(full_name="Old Name")
    first = user.registered()
    new_email = f"new-{user.email}"
    updated = user.updated(email=new_email, full_name="New Name")
    # Delivered out of order: the update first, then the older registration again.
    await bus.feed(updated, first)
    [copy] = rows("SELECT * FROM notifier.users WHERE user_id = :u", u=user.id)
    assert copy["email"] == new_email and copy["full_name"] == "New Name"
    task = Task(created_by=actor.id)
    async with running(Mailer(settings)):
        await bus.feed(task.assign(user.id, actor=actor.id))
        [mail] = await mailbox.wait_for(new_email)
    assert "Hi New Name" in mail.get_body(("plain",)).get_content()


@pytest.mark.parametrize("kind", ["team", "project"])
async def test_membership_for_an_unregistered_address_still_gets_the_address_from_the_event(
        bus, rows, kind):
    admin, user = Person(), Person()
    event = (team_member_added(user, actor=admin.id) if kind == "team"
             else project_member_added(user, actor=admin.id))
    await bus.feed(event)
    [outbox] = emails_of(rows, user)
    assert outbox["status"] in ("pending", "sending", "sent")
