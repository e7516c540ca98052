"""Due-date reminders end to end: boards -> scheduler (scan) -> notifier -> in-app + e-mail."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, datetime, timedelta

import httpx
from devstack.testing import User


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)
    return value


def _created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def _of_type(api: httpx.Client, user: User, kind: str, task_id: str) -> list[dict]:
    items = api.get("/api/v1/notifications", headers=user.headers,
                    params={"limit": 200}).json()["items"]
    return [n for n in items if n["type"] == kind and n["data"].get("task_id") == task_id]


def _mails(stack, address: str, subject_part: str) -> list:
    found = []
    for path in stack.smtp.mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]) and subject_part in str(message["Subject"]).lower():
            found.append(message)
    return found


def _project_with(api: httpx.Client, owner: User, member: User) -> str:
    team = _created(api.post("/api/v1/teams", json={"name": "Reminders"},
                             headers=owner.headers))
    _created(api.post(f"/api/v1/teams/{team['id']}/members",
                      json={"email": member.email, "role": "member"}, headers=owner.headers))
    project = _created(api.post("/api/v1/projects", json={"team_id": team["id"],
                                                          "name": "Due dates"},
                                headers=owner.headers))
    _created(api.post(f"/api/v1/projects/{project['id']}/members",
                      json={"user_id": member.id, "role": "editor"}, headers=owner.headers))
    board = _created(api.post("/api/v1/boards", json={"project_id": project["id"],
                                                      "name": "B"}, headers=owner.headers))
    return _created(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "L"},
                             headers=owner.headers))["id"]


def _due(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def test_due_soon_then_overdue_exactly_once_each(api, make_user, stack):
    alice, bob = make_user("alice"), make_user("bob")
    list_id = _project_with(api, alice, bob)
    soon = _created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Ship it", "assignee_id": bob.id, "due_at": _due(6)}))
    later = _created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Plan it", "assignee_id": bob.id, "due_at": _due(3600)}))

    _wait_for(lambda: _of_type(api, bob, "due_soon", soon["id"]))
    _wait_for(lambda: _of_type(api, bob, "due_soon", later["id"]))
    _wait_for(lambda: _of_type(api, bob, "overdue", soon["id"]))
    time.sleep(3)  # a few more scans: nothing may repeat
    assert len(_of_type(api, bob, "due_soon", soon["id"])) == 1
    assert len(_of_type(api, bob, "overdue", soon["id"])) == 1
    assert len(_of_type(api, bob, "due_soon", later["id"])) == 1
    assert _of_type(api, bob, "overdue", later["id"]) == []
    # The assigner gets no reminder; the assignee gets one e-mail per reminder.
    assert _of_type(api, alice, "due_soon", soon["id"]) == []
    _wait_for(lambda: len(_mails(stack, bob.email, "overdue")) >= 1)
    assert len(_mails(stack, bob.email, "overdue")) == 1


def test_moving_the_due_date_rearms_and_unassigning_cancels(api, make_user, stack):
    alice, bob = make_user("alice"), make_user("bob")
    list_id = _project_with(api, alice, bob)
    task = _created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Rearm", "assignee_id": bob.id, "due_at": _due(3600)}))
    _wait_for(lambda: _of_type(api, bob, "due_soon", task["id"]))
    moved = api.patch(f"/api/v1/tasks/{task['id']}", headers=alice.headers,
                      json={"due_at": _due(7200)})
    assert moved.status_code == 200, moved.text
    _wait_for(lambda: len(_of_type(api, bob, "due_soon", task["id"])) == 2)

    cancelled = _created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Cancelled", "assignee_id": bob.id,
        "due_at": _due(3 * 86400)}))  # outside the 24 h window: nothing yet
    assert api.patch(f"/api/v1/tasks/{cancelled['id']}", headers=alice.headers,
                     json={"assignee_id": None, "due_at": _due(60)}).status_code == 200
    time.sleep(4)
    assert _of_type(api, bob, "due_soon", cancelled["id"]) == []
