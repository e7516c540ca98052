"""Notifications through the gateway against the running stack: membership, assignment and
comment notifications made from real events, their e-mails in the SMTP sink, and the API."""

from __future__ import annotations

import time
from email.message import EmailMessage

import httpx
from devstack.testing import User, assert_problem, created, project_with_member, wait_for

BASE = "/api/v1/notifications"


def mails_to(stack, address: str) -> list[EmailMessage]:
    return [message for message in stack.smtp.received()
            if address.lower() in str(message["To"]).lower()]


def notifications(api: httpx.Client, user: User, **params) -> list[dict]:
    response = api.get(BASE, headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_membership_assignment_and_comment_notifications_and_emails(api, make_user, stack):
    alice, bob = make_user("alice"), make_user("bob")
    project = project_with_member(api, alice, bob, "editor", name="Notify project")
    board = created(api.post("/api/v1/boards", json={"project_id": project["id"],
                                                     "name": "Board"}, headers=alice.headers))
    todo = created(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "Todo"},
                            headers=alice.headers))
    task = created(api.post("/api/v1/tasks", json={"list_id": todo["id"], "title": "Ship it",
                                                   "assignee_id": bob.id},
                            headers=alice.headers))
    created(api.post("/api/v1/comments", json={"task_id": task["id"], "body": "On it!"},
                     headers=bob.headers))

    # bob: added to the team, to the project, assigned (once, though boards sends both
    # task.created and task.assigned); not told about his own comment.
    items = wait_for(lambda: (n := notifications(api, bob)) and len(n) >= 3 and n)
    time.sleep(0.5)
    items = notifications(api, bob)
    assert sorted(i["type"] for i in items) == ["membership", "membership", "task_assigned"]
    [assigned] = [i for i in items if i["type"] == "task_assigned"]
    assert assigned["data"]["task_id"] == task["id"]
    assert assigned["title"] == 'You were assigned "Ship it"'
    assert assigned["read"] is False and assigned["created_at"].endswith("Z")
    # alice: the comment on the task she created; nothing about her own actions.
    [comment] = wait_for(lambda: notifications(api, alice))
    assert comment["type"] == "comment" and comment["body"].endswith("On it!")

    # The e-mails, from the mailer, over SMTP.
    bob_mails = wait_for(lambda: (m := mails_to(stack, bob.email)) and len(m) >= 3 and m)
    assert len(bob_mails) == 3
    for message in bob_mails:
        assert message.get_content_type() == "multipart/alternative"
        assert message["Message-ID"]
    assert "Ship it" in {m["Subject"] for m in bob_mails if "assigned" in m["Subject"]}.pop()
    assert len(wait_for(lambda: mails_to(stack, alice.email))) == 1
    assert wait_for(lambda: all(i["email_status"] == "sent" for i in notifications(api, bob)))

    # Reading.
    count = api.get(f"{BASE}/unread-count", headers=bob.headers).json()
    assert count == {"count": 3}
    assert api.post(f"{BASE}/{assigned['id']}/read", headers=bob.headers).status_code == 204
    assert api.get(f"{BASE}/unread-count", headers=bob.headers).json() == {"count": 2}
    assert len(notifications(api, bob, unread="true")) == 2
    assert_problem(api.post(f"{BASE}/{assigned['id']}/read", headers=alice.headers), 404)
    assert api.post(f"{BASE}/read-all", headers=bob.headers).status_code == 204
    assert api.get(f"{BASE}/unread-count", headers=bob.headers).json() == {"count": 0}


def test_preferences_through_the_gateway(api, make_user):
    carol = make_user("carol")
    prefs = api.get(f"{BASE}/preferences", headers=carol.headers)
    assert prefs.status_code == 200 and all(prefs.json()["email"].values())
    body = {"email": {"task_assigned": False, "due_soon": True, "overdue": True,
                      "comment": False, "membership": True}}
    put = api.put(f"{BASE}/preferences", json=body, headers=carol.headers)
    assert put.status_code == 200 and put.json() == body
    assert_problem(api.put(f"{BASE}/preferences", json={"email": {"sms": True}},
                           headers=carol.headers), 422)
    assert_problem(api.get(BASE), 401)
    assert_problem(api.get(f"{BASE}/unread-count",
                           headers={"Authorization": "Bearer nope"}), 401)


def test_task_assigned_email_off_gives_in_app_only(api, make_user, stack):
    alice, dave = make_user("alice"), make_user("dave")
    prefs = {"email": {"task_assigned": False, "due_soon": True, "overdue": True,
                       "comment": True, "membership": False}}
    assert api.put(f"{BASE}/preferences", json=prefs, headers=dave.headers).status_code == 200
    project = project_with_member(api, alice, dave, "editor", name="Quiet")
    board = created(api.post("/api/v1/boards", json={"project_id": project["id"],
                                                     "name": "B"}, headers=alice.headers))
    todo = created(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "L"},
                            headers=alice.headers))
    created(api.post("/api/v1/tasks", json={"list_id": todo["id"], "title": "Quietly",
                                            "assignee_id": dave.id}, headers=alice.headers))
    # In-app: the two memberships and the assignment, always.
    items = wait_for(lambda: (n := notifications(api, dave)) and len(n) >= 3 and n)
    assert sorted(i["type"] for i in items) == ["membership", "membership", "task_assigned"]
    time.sleep(1.5)  # the mailer is woken at commit: anything it would send is out by now
    assert mails_to(stack, dave.email) == []
    assert all(i["email_status"] is None for i in notifications(api, dave))
