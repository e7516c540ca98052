"""Comments (author rules, events) and the activity log (one entry per change, readable
summaries with names from the user directory, newest first, paged)."""

from __future__ import annotations

from contracts.events import UserUpdated

from services.boards.tests.boards_helpers import World, assert_problem


async def test_comment_lifecycle(world: World):
    s = await world.scenario()
    viewer, admin, editor = s.users["viewer"], s.users["admin"], s.users["editor"]
    comment = await world.created(viewer, "/api/v1/comments",
                                  {"task_id": s.task["id"], "body": "Looks good\nto me"})
    assert set(comment) == {"id", "task_id", "author_id", "body", "created_at", "updated_at"}
    assert comment["author_id"] == str(viewer.id) and comment["body"] == "Looks good\nto me"
    (created,) = world.events("comment.created", comment_id=comment["id"])
    assert created["data"]["task_title"] == s.task["title"]
    assert created["data"]["task_created_by"] == str(admin.id)
    assert created["data"]["task_creator_in_project"] is True
    assert created["actor_id"] == str(viewer.id)

    url = f"/api/v1/comments/{comment['id']}"
    assert_problem(await world.client.patch(url, json={"body": "hijack"},
                                            headers=admin.headers), 403)
    edited = await world.client.patch(url, json={"body": "Edited"}, headers=viewer.headers)
    assert edited.status_code == 200 and edited.json()["body"] == "Edited"
    assert edited.json()["updated_at"] >= comment["updated_at"]
    for body in ({"body": ""}, {"body": "   "}, {"body": "x" * 10_001}, {},
                 {"body": "x", "task_id": s.task["id"]}):
        assert_problem(await world.client.patch(url, json=body, headers=viewer.headers), 422)
    assert_problem(await world.client.delete(url, headers=editor.headers), 403)
    assert (await world.client.delete(url, headers=admin.headers)).status_code == 204
    assert len(world.events("comment.deleted", comment_id=comment["id"])) == 1


async def test_comments_oldest_first_and_paged(world: World):
    s = await world.scenario()
    admin = s.users["admin"]
    made = [await world.created(admin, "/api/v1/comments",
                                {"task_id": s.task["id"], "body": f"c{i}"}) for i in range(5)]
    seen, cursor = [], None
    while True:
        url = f"/api/v1/comments?task_id={s.task['id']}&limit=2"
        page = (await world.client.get(url + (f"&cursor={cursor}" if cursor else ""),
                                       headers=admin.headers)).json()
        seen += [c["body"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [c["body"] for c in made]
    assert_problem(await world.client.get("/api/v1/comments", headers=admin.headers), 422)
    for body in ({"task_id": s.task["id"], "body": ""}, {"task_id": s.task["id"]},
                 {"task_id": "x", "body": "b"}):
        assert_problem(await world.client.post("/api/v1/comments", json=body,
                                               headers=admin.headers), 422)


async def _activity(world: World, project, user) -> list[dict]:
    response = await world.client.get(f"/api/v1/activity?project_id={project.id}&limit=200",
                                      headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_activity_records_every_change_with_readable_summaries(world: World):
    alice = await world.user("Alice")
    bob = await world.user("Bob")
    project = await world.project(alice)
    await world.add_member(project, bob, "editor")
    board = await world.board(alice, project, "Sprint")
    todo = await world.list(alice, board, "To do")
    done = await world.list(alice, board, "Done")
    task = await world.task(alice, todo, "Fix login")
    url = f"/api/v1/tasks/{task['id']}"
    await world.client.patch(url, json={"assignee_id": str(bob.id), "priority": "high",
                                        "due_at": "2030-01-01T09:30:00Z"}, headers=alice.headers)
    await world.client.post(f"{url}/move", json={"list_id": done["id"]}, headers=bob.headers)
    comment = await world.created(bob, "/api/v1/comments", {"task_id": task["id"], "body": "ok"})
    await world.client.patch(f"/api/v1/comments/{comment['id']}", json={"body": "done"},
                             headers=bob.headers)
    await world.client.delete(f"/api/v1/comments/{comment['id']}", headers=bob.headers)
    await world.client.patch(f"/api/v1/lists/{done['id']}", json={"wip_limit": 3},
                             headers=alice.headers)
    await world.client.post(f"/api/v1/lists/{done['id']}/move", json={"before_id": todo["id"]},
                            headers=alice.headers)
    await world.client.delete(url, headers=alice.headers)

    entries = await _activity(world, project, alice)
    got = [(e["verb"], e["summary"]) for e in reversed(entries)]
    assert got == [
        ("project.member_added", "Alice added Bob to the project as editor"),
        ("board.created", "Alice created board \u201cSprint\u201d"),
        ("list.created", "Alice added list \u201cTo do\u201d to board \u201cSprint\u201d"),
        ("list.created", "Alice added list \u201cDone\u201d to board \u201cSprint\u201d"),
        ("task.created", "Alice created task \u201cFix login\u201d in To do"),
        ("task.updated", "Alice changed the priority of \u201cFix login\u201d"),
        ("task.assigned", "Alice assigned \u201cFix login\u201d to Bob"),
        ("task.due_date_changed",
         "Alice set the due date of \u201cFix login\u201d to 2030-01-01 09:30 UTC"),
        ("task.moved", "Bob moved \u201cFix login\u201d from To do to Done"),
        ("comment.created", "Bob commented on \u201cFix login\u201d"),
        ("comment.updated", "Bob edited a comment on \u201cFix login\u201d"),
        ("comment.deleted", "Bob deleted a comment on \u201cFix login\u201d"),
        ("list.updated", "Alice set the WIP limit of \u201cDone\u201d to 3"),
        ("list.moved", "Alice moved list \u201cDone\u201d before \u201cTo do\u201d"),
        ("task.deleted", "Alice deleted task \u201cFix login\u201d"),
    ]
    newest = entries[0]
    assert set(newest) == {"id", "project_id", "actor_id", "verb", "entity_type", "entity_id",
                           "summary", "data", "created_at"}
    assert newest["entity_type"] == "task" and newest["entity_id"] == task["id"]
    assert newest["actor_id"] == str(alice.id) and newest["created_at"].endswith("Z")
    moved = next(e for e in entries if e["verb"] == "task.moved")
    assert moved["data"]["from_list_name"] == "To do" and moved["data"]["to_list_name"] == "Done"
    # The entry id is the id of the event behind it.
    (event,) = world.events("task.moved", task_id=task["id"])
    assert moved["id"] == event["event_id"]


async def test_activity_names_follow_the_user_directory(world: World):
    alice = await world.user("Alice")
    project = await world.project(alice)
    await world.board(alice, project, "One")
    await world.feed("user.updated", UserUpdated(user_id=alice.id, email="a@example.com",
                                                 full_name="Alice Liddell"),
                     producer="identity")
    await world.board(alice, project, "Two")
    stranger = world.stranger()
    world.workspace.roles[(project.id, stranger.id)] = "editor"   # read-through only
    await world.board(stranger, project, "Three")
    summaries = [e["summary"] for e in await _activity(world, project, alice)]
    assert summaries[:3] == ["Someone created board \u201cThree\u201d",
                             "Alice Liddell created board \u201cTwo\u201d",
                             "Alice created board \u201cOne\u201d"]


async def test_activity_is_newest_first_and_paged(world: World):
    alice = await world.user("Alice")
    project = await world.project(alice)
    for i in range(7):
        await world.board(alice, project, f"B{i}")
    seen, cursor = [], None
    while True:
        url = f"/api/v1/activity?project_id={project.id}&limit=3"
        page = (await world.client.get(url + (f"&cursor={cursor}" if cursor else ""),
                                       headers=alice.headers)).json()
        seen += [e["data"]["name"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"B{i}" for i in reversed(range(7))]
    assert_problem(await world.client.get("/api/v1/activity", headers=alice.headers), 422)


async def test_membership_changes_are_in_the_activity(world: World):
    alice = await world.user("Alice")
    bob = await world.user("Bob")
    carol = await world.user("Carol")
    project = await world.project(alice)
    await world.add_member(project, bob, "viewer")
    await world.change_role(project, bob, "viewer", "editor")
    await world.add_member(project, carol, "viewer", actor=carol)
    await world.remove_member(project, bob, "editor", actor=alice)
    await world.remove_member(project, carol, "viewer", actor=carol)
    entries = await _activity(world, project, alice)
    assert [(e["verb"], e["summary"], e["entity_type"]) for e in reversed(entries)] == [
        ("project.member_added", "Alice added Bob to the project as viewer", "project_member"),
        ("project.member_role_changed", "Alice changed Bob's role from viewer to editor",
         "project_member"),
        ("project.member_added", "Carol joined the project as viewer", "project_member"),
        ("project.member_removed", "Alice removed Bob from the project", "project_member"),
        ("project.member_removed", "Carol left the project", "project_member"),
    ]
    assert entries[-1]["entity_id"] == str(bob.id)


async def test_comment_events_say_when_the_task_creator_left_the_project(world: World):
    """The notifier must not tell a former member about comments they can no longer see."""
    s = await world.scenario()
    editor, viewer = s.users["editor"], s.users["viewer"]
    task = await world.task(editor, s.list, "Editor's task")
    await world.remove_member(s.project, editor, "editor", actor=s.users["admin"])
    comment = await world.created(viewer, "/api/v1/comments",
                                  {"task_id": task["id"], "body": "after they left"})
    (created,) = world.events("comment.created", comment_id=comment["id"])
    assert created["data"]["task_created_by"] == str(editor.id)
    assert created["data"]["task_creator_in_project"] is False
