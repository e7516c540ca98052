"""The notifications API: list (unread filter, cursor, newest first), unread count, read one,
read all, preferences; 401/404/422 as problem+json."""

from __future__ import annotations

import time
import uuid

import pytest

from services.notifier.tests.notifier_helpers import (
    Person,
    Task,
    assert_problem,
    sign_token,
    team_member_added,
)

BASE = "/api/v1/notifications"


@pytest.fixture
def inbox(process):
    """``await inbox(person, n)``: n notifications for ``person`` (oldest first), made by
    the consumer's real handlers; returns their event ids in order."""
    async def _make(person: Person, n: int) -> list[str]:
        actor = Person()
        events = [team_member_added(person, actor=actor.id, team_name=f"Team {i}")
                  for i in range(n)]
        await process(*events)
        return [str(e.event_id) for e in events]
    return _make


async def test_a_new_user_has_an_empty_inbox_and_default_preferences(client, token):
    me = Person()
    listed = await client.get(BASE, headers=token(me.id))
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "next_cursor": None}
    count = await client.get(f"{BASE}/unread-count", headers=token(me.id))
    assert count.json() == {"count": 0}
    prefs = await client.get(f"{BASE}/preferences", headers=token(me.id))
    assert prefs.json() == {"email": {"task_assigned": True, "due_soon": True, "overdue": True,
                                      "comment": True, "membership": True}}


async def test_list_is_newest_first_with_the_documented_shape(client, token, inbox):
    me = Person()
    await inbox(me, 3)
    body = (await client.get(BASE, headers=token(me.id))).json()
    assert [i["data"]["team_name"] for i in body["items"]] == ["Team 2", "Team 1", "Team 0"]
    item = body["items"][0]
    assert {"id", "type", "title", "body", "data", "read", "created_at"} <= item.keys()
    assert item["type"] == "membership" and item["read"] is False
    assert item["created_at"].endswith("Z")
    assert item["title"] == 'You were added to the team "Team 2"'
    uuid.UUID(item["id"])


async def test_cursor_pagination_walks_every_notification_once(client, token, inbox):
    me = Person()
    await inbox(me, 7)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(BASE, params=params, headers=token(me.id))).json()
        seen += [i["data"]["team_name"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"Team {i}" for i in range(6, -1, -1)]


async def test_unread_filter_count_read_one_and_read_all(client, token, inbox):
    me = Person()
    await inbox(me, 4)
    items = (await client.get(BASE, headers=token(me.id))).json()["items"]
    newest = items[0]["id"]

    read = await client.post(f"{BASE}/{newest}/read", headers=token(me.id))
    assert read.status_code == 204 and read.content == b""
    # Idempotent.
    assert (await client.post(f"{BASE}/{newest}/read", headers=token(me.id))).status_code == 204
    count = await client.get(f"{BASE}/unread-count", headers=token(me.id))
    assert count.json() == {"count": 3}

    unread = (await client.get(BASE, params={"unread": "true"}, headers=token(me.id))).json()
    assert [i["id"] for i in unread["items"]] == [i["id"] for i in items[1:]]
    assert all(i["read"] is False for i in unread["items"])
    only_read = (await client.get(BASE, params={"unread": "false"},
                                  headers=token(me.id))).json()
    assert [i["id"] for i in only_read["items"]] == [newest]
    assert only_read["items"][0]["read"] is True
    assert only_read["items"][0]["read_at"].endswith("Z")

    everything = await client.post(f"{BASE}/read-all", headers=token(me.id))
    assert everything.status_code == 204
    assert (await client.get(f"{BASE}/unread-count", headers=token(me.id))).json() == \
        {"count": 0}
    assert (await client.get(BASE, params={"unread": "true"},
                             headers=token(me.id))).json()["items"] == []
    # read-all with nothing unread is fine too.
    assert (await client.post(f"{BASE}/read-all", headers=token(me.id))).status_code == 204


async def test_unread_filter_with_cursor(client, token, inbox):
    me = Person()
    await inbox(me, 5)
    first = (await client.get(BASE, params={"unread": "true", "limit": 2},
                              headers=token(me.id))).json()
    second = (await client.get(BASE, params={"unread": "true", "limit": 2,
                                             "cursor": first["next_cursor"]},
                               headers=token(me.id))).json()
    assert [i["data"]["team_name"] for i in first["items"] + second["items"]] == \
        ["Team 4", "Team 3", "Team 2", "Team 1"]


async def test_another_users_notification_is_404_and_untouched(client, token, inbox):
    me, other = Person(), Person()
    await inbox(other, 1)
    [theirs] = (await client.get(BASE, headers=token(other.id))).json()["items"]
    assert_problem(await client.post(f"{BASE}/{theirs['id']}/read", headers=token(me.id)), 404)
    # My read-all does not touch it either.
    assert (await client.post(f"{BASE}/read-all", headers=token(me.id))).status_code == 204
    assert (await client.get(f"{BASE}/unread-count", headers=token(other.id))).json() == \
        {"count": 1}
    # And I never see it listed.
    assert (await client.get(BASE, headers=token(me.id))).json()["items"] == []


@pytest.mark.parametrize("bad_id", [str(uuid.uuid4()), "not-a-uuid", "123"])
async def test_unknown_or_malformed_notification_id_is_404(client, token, bad_id):
    assert_problem(await client.post(f"{BASE}/{bad_id}/read", headers=token(Person().id)), 404)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": -1}, {"limit": "x"},
                                    {"cursor": "not-a-cursor"}, {"unread": "maybe"}])
async def test_bad_query_parameters_are_422(client, token, params):
    assert_problem(await client.get(BASE, params=params, headers=token(Person().id)), 422)


async def test_limit_above_200_is_clamped(client, token, inbox):
    me = Person()
    await inbox(me, 2)
    response = await client.get(BASE, params={"limit": 5000}, headers=token(me.id))
    assert response.status_code == 200 and len(response.json()["items"]) == 2


async def test_preferences_put_replaces_given_switches_and_get_reads_them_back(client, token):
    me = Person()
    full = {"email": {"task_assigned": False, "due_soon": True, "overdue": False,
                      "comment": True, "membership": False}}
    put = await client.put(f"{BASE}/preferences", json=full, headers=token(me.id))
    assert put.status_code == 200 and put.json() == full
    assert (await client.get(f"{BASE}/preferences", headers=token(me.id))).json() == full
    # A partial object changes only what it names.
    partial = await client.put(f"{BASE}/preferences", json={"email": {"comment": False}},
                               headers=token(me.id))
    assert partial.json()["email"] == {**full["email"], "comment": False}
    # Someone else's preferences are their own.
    assert (await client.get(f"{BASE}/preferences", headers=token(Person().id))).json()[
        "email"]["task_assigned"] is True


@pytest.mark.parametrize("body", [
    {"email": {"task_assigned": True, "sms": True}},      # unknown switch
    {"email": {"task_assigned": True}, "push": {}},       # unknown top-level key
    {"email": {"comment": "false"}},                      # not a JSON boolean
    {"email": {"comment": 0}},
    {"email": {"comment": None}},
    {"email": "all"},
    {"email": None},
    {},                                                   # email is required
    [],
])
async def test_preferences_bodies_are_validated_strictly(client, token, body):
    me = Person()
    problem = assert_problem(await client.put(f"{BASE}/preferences", json=body,
                                              headers=token(me.id)), 422)
    assert problem["errors"][0]["loc"][0] == "body"
    # Nothing changed.
    assert all((await client.get(f"{BASE}/preferences", headers=token(me.id))).json()[
        "email"].values())


async def test_a_malformed_json_body_is_422(client, token):
    response = await client.put(f"{BASE}/preferences", content=b"{not json",
                                headers={**token(Person().id),
                                         "Content-Type": "application/json"})
    assert_problem(response, 422)


ROUTES = [("GET", BASE), ("GET", f"{BASE}/unread-count"), ("POST", f"{BASE}/read-all"),
          ("POST", f"{BASE}/{uuid.uuid4()}/read"), ("GET", f"{BASE}/preferences"),
          ("PUT", f"{BASE}/preferences")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_needs_a_valid_access_token(client, signing_key, method, path):
    user = uuid.uuid4()
    body = {"json": {"email": {"comment": True}}} if method == "PUT" else {}
    bad_headers = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": f"Basic {sign_token(signing_key, user)}"},
        {"Authorization": f"Bearer {sign_token(signing_key, user, exp=int(time.time()) - 5)}"},
        {"Authorization": f"Bearer {sign_token(signing_key, user, typ='refresh')}"},
        {"Authorization": f"Bearer {sign_token(signing_key, user, aud='other')}"},
        {"Authorization": f"Bearer {sign_token(signing_key, user, kid='unknown-kid')}"},
        {"Authorization": f"Bearer {sign_token(signing_key, user)}x"},
    ]
    for headers in bad_headers:
        response = await client.request(method, path, headers=headers, **body)
        assert_problem(response, 401)


async def test_the_assignment_notification_through_the_api(client, token, process):
    actor, me = Person(full_name="Grace"), Person()
    task = Task(created_by=actor.id, title="Write tests")
    await process(actor.registered(), me.registered())
    await process(task.assign(me.id, actor=actor.id))
    [item] = (await client.get(BASE, headers=token(me.id))).json()["items"]
    assert item["type"] == "task_assigned"
    assert item["title"] == 'You were assigned "Write tests"'
    assert item["body"] == 'Grace assigned you the task "Write tests".'
    assert item["data"]["task_id"] == str(task.task_id)
    assert item["data"]["assigned_by"] == str(actor.id)
    assert item["email_status"] in ("pending", "sending", "sent")
    assert (await client.get(BASE, headers=token(actor.id))).json()["items"] == []
