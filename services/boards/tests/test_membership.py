"""The permission read model: read-through on a miss, revocation, unassignment when a
member leaves, the project.deleted cascade, reordering and duplicates of events, and the
real consumer group on Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
import sqlalchemy as sa
from boards.events.consumer import BoardsConsumer
from chassis.worker import running
from contracts.events import (
    ProjectDeleted,
    ProjectMemberAdded,
    TeamDeleted,
    TeamMemberRemoved,
    make_event,
)
from contracts.streams import IDENTITY_EVENTS, WORKSPACE_EVENTS
from faststream.redis import RedisBroker

from services.boards.tests.boards_helpers import World, assert_problem


def _members(world: World, project_id) -> dict[str, str | None]:
    with world.db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT user_id, role FROM boards.project_members WHERE project_id = :p"),
            {"p": project_id}).all()
    return {str(r.user_id): r.role for r in rows}


async def test_new_project_works_at_once_through_read_through(world: World):
    """Create a project in workspace, then at once a board in it: the event has not arrived,
    so boards asks workspace with the caller's token, and does not store the answer."""
    alice = world.stranger("Alice")
    project_id = uuid.uuid4()
    world.workspace.roles[(project_id, alice.id)] = "admin"
    response = await world.client.post("/api/v1/boards", json={
        "project_id": str(project_id), "name": "First"}, headers=alice.headers)
    assert response.status_code == 201, response.text
    assert world.workspace.calls == [(project_id, alice.id)]
    assert _members(world, project_id) == {}          # nothing written into the read model
    # A viewer (per workspace) may read but not write.
    vera = world.stranger("Vera")
    world.workspace.roles[(project_id, vera.id)] = "viewer"
    assert (await world.client.get(f"/api/v1/boards/{response.json()['id']}",
                                   headers=vera.headers)).status_code == 200
    assert_problem(await world.client.post("/api/v1/boards", json={
        "project_id": str(project_id), "name": "x"}, headers=vera.headers), 403)


async def test_read_model_hits_do_not_call_workspace(world: World):
    s = await world.scenario()
    world.workspace.calls.clear()
    for role in ("admin", "editor", "viewer"):
        response = await world.client.get(f"/api/v1/boards/{s.board['id']}",
                                          headers=s.users[role].headers)
        assert response.status_code == 200
    assert world.workspace.calls == []


async def test_workspace_down_on_a_miss_is_503_but_hits_still_work(world: World):
    s = await world.scenario()
    world.workspace.down = True
    assert (await world.client.get(f"/api/v1/boards/{s.board['id']}",
                                   headers=s.users["viewer"].headers)).status_code == 200
    problem = assert_problem(await world.client.get(f"/api/v1/boards/{s.board['id']}",
                                                    headers=s.users["outsider"].headers), 503)
    assert "retry" in problem["detail"].lower()


async def test_role_changes_and_removal_take_effect_on_the_next_request(world: World):
    s = await world.scenario()
    viewer = s.users["viewer"]
    body = {"project_id": str(s.project.id), "name": "x"}
    assert_problem(await world.client.post("/api/v1/boards", json=body,
                                           headers=viewer.headers), 403)
    await world.change_role(s.project, viewer, "viewer", "editor")
    assert (await world.client.post("/api/v1/boards", json=body,
                                    headers=viewer.headers)).status_code == 201
    started = time.monotonic()
    await world.remove_member(s.project, viewer, "editor", actor=s.users["admin"])
    # Workspace agrees (the user is gone there too): the read-through on the miss says 404.
    assert_problem(await world.client.get(f"/api/v1/boards/{s.board['id']}",
                                          headers=viewer.headers), 404)
    assert time.monotonic() - started < 1.0
    assert world.workspace.calls[-1] == (s.project.id, viewer.id)


async def test_removed_member_is_unassigned_from_their_tasks(world: World):
    s = await world.scenario()
    admin, editor = s.users["admin"], s.users["editor"]
    mine = [await world.task(admin, s.list, f"t{i}", assignee_id=str(editor.id))
            for i in range(3)]
    theirs = await world.task(admin, s.list, "other", assignee_id=str(admin.id))
    elsewhere_project = await world.project(admin, name="Elsewhere")
    await world.add_member(elsewhere_project, editor, "editor")
    elsewhere = await world.task(admin, await world.list(
        admin, await world.board(admin, elsewhere_project)), "kept", assignee_id=str(editor.id))

    await world.remove_member(s.project, editor, "editor", actor=admin)
    for task in mine:
        got = (await world.client.get(f"/api/v1/tasks/{task['id']}",
                                      headers=admin.headers)).json()
        assert got["assignee_id"] is None and got["version"] == 2
        (event,) = world.events("task.unassigned", task_id=task["id"])
        assert event["data"]["previous_assignee_id"] == str(editor.id)
        assert event["actor_id"] == str(admin.id)
        assert event["data"]["version"] == 2
    assert (await world.client.get(f"/api/v1/tasks/{theirs['id']}", headers=admin.headers)
            ).json()["assignee_id"] == str(admin.id)
    assert (await world.client.get(f"/api/v1/tasks/{elsewhere['id']}", headers=admin.headers)
            ).json()["assignee_id"] == str(editor.id)
    activity = (await world.client.get(f"/api/v1/activity?project_id={s.project.id}",
                                       headers=admin.headers)).json()["items"]
    assert [e["verb"] for e in activity[:4]] == ["task.unassigned"] * 3 + \
        ["project.member_removed"]
    assert activity[0]["summary"].startswith("Ada Admin unassigned Editor User from")
    # And they can no longer be assigned.
    assert_problem(await world.client.patch(f"/api/v1/tasks/{theirs['id']}", json={
        "assignee_id": str(editor.id)}, headers=admin.headers), 422)


async def test_leaving_the_team_ends_every_project_role_in_it(world: World):
    admin = await world.user("Ada")
    bob = await world.user("Bob")
    team_id = uuid.uuid4()
    first = await world.project(admin, team_id=team_id, name="One")
    second = await world.project(admin, team_id=team_id, name="Two")
    other_team = await world.project(admin, name="Other team")
    for project in (first, second, other_team):
        await world.add_member(project, bob, "editor")
    task = await world.task(admin, await world.list(admin, await world.board(admin, first)),
                            "t", assignee_id=str(bob.id))
    await world.feed("team.member_removed", TeamMemberRemoved(
        team_id=team_id, team_name="T", user_id=bob.id, email="b@example.com",
        full_name="Bob", role="member"), actor=bob)
    assert _members(world, first.id)[str(bob.id)] is None
    assert _members(world, second.id)[str(bob.id)] is None
    assert _members(world, other_team.id)[str(bob.id)] == "editor"
    assert (await world.client.get(f"/api/v1/tasks/{task['id']}", headers=admin.headers)
            ).json()["assignee_id"] is None


async def test_project_deleted_cascades_everything(world: World):
    s = await world.scenario()
    admin = s.users["admin"]
    comment = await world.created(admin, "/api/v1/comments", {"task_id": s.task["id"],
                                                               "body": "bye"})
    counts = ("SELECT (SELECT count(*) FROM boards.boards WHERE project_id = :p)"
              " + (SELECT count(*) FROM boards.lists WHERE project_id = :p)"
              " + (SELECT count(*) FROM boards.tasks WHERE project_id = :p)"
              " + (SELECT count(*) FROM boards.comments WHERE project_id = :p)"
              " + (SELECT count(*) FROM boards.activity WHERE project_id = :p)"
              " + (SELECT count(*) FROM boards.project_members WHERE project_id = :p)")
    assert world.scalar(counts, p=s.project.id) > 6
    await world.feed("project.deleted", ProjectDeleted(
        project_id=s.project.id, team_id=s.project.team_id, name=s.project.name), actor=admin)
    assert world.scalar(counts, p=s.project.id) == 0
    assert_problem(await world.client.get(f"/api/v1/comments?task_id={s.task['id']}",
                                          headers=admin.headers), 404)
    assert world.scalar("SELECT count(*) FROM boards.comments WHERE id = :c",
                        c=comment["id"]) == 0
    # Even if a stale read-through said yes, the tombstone refuses new boards.
    world.workspace.roles[(s.project.id, admin.id)] = "admin"
    world.workspace.calls.clear()
    assert_problem(await world.client.post("/api/v1/boards", json={
        "project_id": str(s.project.id), "name": "zombie"}, headers=admin.headers), 404)
    assert world.workspace.calls == []
    # A late membership event for the deleted project changes nothing.
    await world.add_member(s.project, s.users["viewer"], "viewer")
    assert _members(world, s.project.id) == {}


async def test_team_deleted_removes_its_projects(world: World):
    admin = await world.user()
    team_id = uuid.uuid4()
    project = await world.project(admin, team_id=team_id)
    board = await world.board(admin, project)
    await world.feed("team.deleted", TeamDeleted(team_id=team_id, name="T"), actor=admin)
    assert world.scalar("SELECT count(*) FROM boards.boards WHERE id = :b", b=board["id"]) == 0
    assert_problem(await world.client.get(f"/api/v1/boards/{board['id']}",
                                          headers=admin.headers), 404)


async def test_events_out_of_order_and_duplicates(world: World):
    s = await world.scenario()
    bob = await world.user("Bob")
    now = datetime.now(UTC)

    def member_added(at: datetime) -> dict:
        envelope = make_event("project.member_added", ProjectMemberAdded(
            project_id=s.project.id, team_id=s.project.team_id, project_name="P",
            user_id=bob.id, email="b@example.com", full_name="Bob", role="editor"),
            producer="workspace")
        return envelope.model_copy(update={"occurred_at": at}).model_dump(mode="json")

    late_add = member_added(now - timedelta(seconds=5))
    await world.remove_member(s.project, bob, "editor")            # occurred "now"
    assert await world.consumer.process(late_add)                  # older: must not revive
    assert _members(world, s.project.id)[str(bob.id)] is None
    fresh_add = member_added(datetime.now(UTC) + timedelta(seconds=1))
    assert await world.consumer.process(fresh_add)
    assert _members(world, s.project.id)[str(bob.id)] == "editor"
    # The same event again: skipped (one activity entry, no second effect).
    assert not await world.consumer.process(fresh_add)
    assert world.scalar("SELECT count(*) FROM boards.activity WHERE id = :e",
                        e=fresh_add["event_id"]) == 1


async def test_assigning_yourself_with_a_read_through_role(world: World):
    """The caller's own role may come from the read-through (a brand-new project), and so
    may an assignee's (a member added a moment ago): no visible lag. No role at all: 422."""
    alice = world.stranger("Alice")
    project_id = uuid.uuid4()
    world.workspace.roles[(project_id, alice.id)] = "admin"
    board = (await world.client.post("/api/v1/boards", json={
        "project_id": str(project_id), "name": "B"}, headers=alice.headers)).json()
    target = await world.list(alice, board)
    task = await world.task(alice, target, "mine", assignee_id=str(alice.id))
    assert task["assignee_id"] == str(alice.id)
    bob = world.stranger("Bob")
    world.workspace.roles[(project_id, bob.id)] = "editor"   # not in the read model yet
    assigned = await world.client.post("/api/v1/tasks", json={
        "list_id": target["id"], "title": "t", "assignee_id": str(bob.id)},
        headers=alice.headers)
    assert assigned.status_code == 201, assigned.text
    assert assigned.json()["assignee_id"] == str(bob.id)
    carol = world.stranger("Carol")  # no role anywhere
    assert_problem(await world.client.post("/api/v1/tasks", json={
        "list_id": target["id"], "title": "t", "assignee_id": str(carol.id)},
        headers=alice.headers), 422)


async def test_real_consumer_group_applies_workspace_and_identity_events(world: World,
                                                                          settings):
    """Events published on the streams (as the relays do) are consumed by the ``boards``
    group; a removal reaches the read model well within a second."""
    # The whole worker (its rebalancer too), as chassis.serve runs it.
    async with running(BoardsConsumer(settings, consumer_name="it")):
        publisher = RedisBroker(settings.redis_url)
        await publisher.connect()
        try:
            alice_id, bob_id = uuid.uuid4(), uuid.uuid4()
            project_id, team_id = uuid.uuid4(), uuid.uuid4()
            from contracts.events import (
                ProjectCreated,
                ProjectMemberRemoved,
                UserRegistered,
            )

            async def publish(stream: str, event_type: str, payload, actor=None) -> None:
                envelope = make_event(event_type, payload, producer=stream.split(".")[0],
                                      actor_id=actor)
                await publisher.publish(envelope.model_dump(mode="json"), stream=stream)

            await publish(IDENTITY_EVENTS, "user.registered", UserRegistered(
                user_id=alice_id, email="alice@example.com", full_name="Alice"))
            await publish(WORKSPACE_EVENTS, "project.created", ProjectCreated(
                project_id=project_id, team_id=team_id, name="P", created_by=alice_id))
            await publish(WORKSPACE_EVENTS, "project.member_added", ProjectMemberAdded(
                project_id=project_id, team_id=team_id, project_name="P", user_id=bob_id,
                email="bob@example.com", full_name="Bob", role="editor"), actor=alice_id)

            async def wait_for(predicate, timeout: float = 10.0) -> float:
                started = time.monotonic()
                while not predicate():
                    assert time.monotonic() - started < timeout, "not consumed in time"
                    await asyncio.sleep(0.01)
                return time.monotonic() - started

            await wait_for(lambda: _members(world, project_id).get(str(bob_id)) == "editor")
            assert world.scalar("SELECT full_name FROM boards.users WHERE id = :u",
                                u=alice_id) == "Alice"
            removal_started = time.monotonic()
            await publish(WORKSPACE_EVENTS, "project.member_removed", ProjectMemberRemoved(
                project_id=project_id, team_id=team_id, project_name="P", user_id=bob_id,
                email="bob@example.com", full_name="Bob", role="editor"), actor=alice_id)
            await wait_for(lambda: _members(world, project_id).get(str(bob_id)) is None)
            assert time.monotonic() - removal_started < 1.0
            client = aioredis.from_url(settings.redis_url)
            pending = await client.xpending(WORKSPACE_EVENTS, "boards")
            await client.aclose()
            assert pending["pending"] == 0
        finally:
            await publisher.stop()
