"""Due-date reminders end to end: boards -> scheduler (scan) -> notifier -> in-app + e-mail."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
from devstack.testing import User, created, project_with_member, wait_for

# A scan a second (tests/e2e/conftest.py), then the notifier: allow for a slow machine.
wait_for_reminder = partial(wait_for, timeout=30.0, interval=0.2)


def _of_type(api: httpx.Client, user: User, kind: str, task_id: str) -> list[dict]:
    items = api.get("/api/v1/notifications", headers=user.headers,
                    params={"limit": 200}).json()["items"]
    return [n for n in items if n["type"] == kind and n["data"].get("task_id") == task_id]


def _mails(stack, address: str, subject_part: str) -> list:
    return [message for message in stack.smtp.received()
            if address in str(message["To"]) and subject_part in str(message["Subject"]).lower()]


def _project_with(api: httpx.Client, owner: User, member: User) -> str:
    """A list on a board of a project where ``member`` is an editor; its id."""
    project = project_with_member(api, owner, member, name="Due dates")
    board = created(api.post("/api/v1/boards", json={"project_id": project["id"],
                                                     "name": "B"}, headers=owner.headers))
    return created(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "L"},
                            headers=owner.headers))["id"]


def _due(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def test_due_soon_then_overdue_exactly_once_each(api, make_user, stack):
    alice, bob = make_user("alice"), make_user("bob")
    list_id = _project_with(api, alice, bob)
    soon = created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Ship it", "assignee_id": bob.id, "due_at": _due(6)}))
    later = created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Plan it", "assignee_id": bob.id, "due_at": _due(3600)}))

    wait_for_reminder(lambda: _of_type(api, bob, "due_soon", soon["id"]))
    wait_for_reminder(lambda: _of_type(api, bob, "due_soon", later["id"]))
    wait_for_reminder(lambda: _of_type(api, bob, "overdue", soon["id"]))
    time.sleep(3)  # a few more scans: nothing may repeat
    assert len(_of_type(api, bob, "due_soon", soon["id"])) == 1
    assert len(_of_type(api, bob, "overdue", soon["id"])) == 1
    assert len(_of_type(api, bob, "due_soon", later["id"])) == 1
    assert _of_type(api, bob, "overdue", later["id"]) == []
    # The assigner gets no reminder; the assignee gets one e-mail per reminder.
    assert _of_type(api, alice, "due_soon", soon["id"]) == []
    wait_for_reminder(lambda: len(_mails(stack, bob.email, "overdue")) >= 1)
    assert len(_mails(stack, bob.email, "overdue")) == 1


def test_moving_the_due_date_rearms_and_unassigning_cancels(api, make_user, stack):
    alice, bob = make_user("alice"), make_user("bob")
    list_id = _project_with(api, alice, bob)
    task = created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Rearm", "assignee_id": bob.id, "due_at": _due(3600)}))
    wait_for_reminder(lambda: _of_type(api, bob, "due_soon", task["id"]))
    moved = api.patch(f"/api/v1/tasks/{task['id']}", headers=alice.headers,
                      json={"due_at": _due(7200)})
    assert moved.status_code == 200, moved.text
    wait_for_reminder(lambda: len(_of_type(api, bob, "due_soon", task["id"])) == 2)

    cancelled = created(api.post("/api/v1/tasks", headers=alice.headers, json={
        "list_id": list_id, "title": "Cancelled", "assignee_id": bob.id,
        "due_at": _due(3 * 86400)}))  # outside the 24 h window: nothing yet
    assert api.patch(f"/api/v1/tasks/{cancelled['id']}", headers=alice.headers,
                     json={"assignee_id": None, "due_at": _due(60)}).status_code == 200
    time.sleep(4)
    assert _of_type(api, bob, "due_soon", cancelled["id"]) == []
