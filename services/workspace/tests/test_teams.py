"""Teams and team members: behaviour, validation and the events each change publishes."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from services.workspace.tests.workspace_helpers import assert_problem


async def test_create_team_makes_the_caller_owner(client, api, make_user, outbox_mark,
                                                  events_since):
    owner = make_user("owner")
    mark = outbox_mark()
    response = await client.post("/api/v1/teams", json={"name": "  Platform  "},
                                 headers={**owner.headers, "X-Request-ID": "req-create-team"})
    assert response.status_code == 201, response.text
    team = response.json()
    assert set(team) == {"id", "name", "created_at", "my_role"}
    assert team["name"] == "Platform" and team["my_role"] == "owner"
    assert team["created_at"].endswith("Z")
    uuid.UUID(team["id"])
    members = (await client.get(f"/api/v1/teams/{team['id']}/members",
                                headers=owner.headers)).json()
    assert members["next_cursor"] is None
    [me] = members["items"]
    assert me == {"user_id": str(owner.id), "email": owner.email, "full_name": owner.full_name,
                  "role": "owner", "joined_at": me["joined_at"]}
    [event] = events_since(mark)
    assert event.type == "team.created" and event.correlation_id == "req-create-team"
    assert event.actor_id == owner.id
    assert event.data == {"team_id": team["id"], "name": "Platform", "owner_id": str(owner.id)}


async def test_a_brand_new_user_creating_a_team_is_read_through_from_identity(
        client, make_user, identity, db):
    """The user.registered event has not arrived yet: the owner's name still shows."""
    owner = make_user("fresh", in_directory=False)
    calls = len(identity.calls)
    team = (await client.post("/api/v1/teams", json={"name": "T"}, headers=owner.headers)).json()
    assert identity.calls[calls:] == [("me", f"Bearer {owner.token}")]
    [me] = (await client.get(f"/api/v1/teams/{team['id']}/members",
                             headers=owner.headers)).json()["items"]
    assert (me["email"], me["full_name"]) == (owner.email, owner.full_name)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT email FROM workspace.user_directory "
                                    "WHERE user_id = :id"), {"id": owner.id}).scalar() \
            == owner.email


async def test_creating_a_team_does_not_need_identity(client, make_user, identity):
    owner = make_user("lonely", in_directory=False)
    identity.down = True
    response = await client.post("/api/v1/teams", json={"name": "T"}, headers=owner.headers)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": None}, {"name": 5},
    {"name": "ok", "extra": 1}, {"name": "line\nbreak"}, [], "name",
])
async def test_create_team_validation(client, make_user, body):
    response = await client.post("/api/v1/teams", json=body, headers=make_user().headers)
    assert_problem(response, 422)


async def test_team_names_of_100_characters_are_fine(client, make_user):
    response = await client.post("/api/v1/teams", json={"name": "é" * 100},
                                 headers=make_user().headers)
    assert response.status_code == 201


async def test_list_teams_shows_mine_only_with_my_role_and_pages(client, api, make_user):
    me, other = make_user("me"), make_user("other")
    mine = [await api.create_team(me, f"Mine {i}") for i in range(3)]
    theirs = await api.create_team(other, "Theirs")
    await api.add_member(theirs, other, me, "admin")
    await api.create_team(other, "Not mine")
    pages = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/v1/teams", params=params, headers=me.headers)).json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2]
    seen = [t for p in pages for t in p]
    assert [t["id"] for t in seen] == [t["id"] for t in mine] + [theirs["id"]]
    assert [t["my_role"] for t in seen] == ["owner"] * 3 + ["admin"]


async def test_pagination_limits_and_bad_cursors(client, api, make_user):
    me = make_user()
    for i in range(3):
        await api.create_team(me, f"T{i}")
    big = await client.get("/api/v1/teams", params={"limit": 1000}, headers=me.headers)
    assert big.status_code == 200 and len(big.json()["items"]) == 3
    for params in [{"limit": 0}, {"limit": -1}, {"limit": "x"}, {"cursor": "forged"},
                   {"cursor": "eyJhIjoxfQ"}]:
        assert_problem(await client.get("/api/v1/teams", params=params, headers=me.headers),
                       422)
    # A cursor is valid only for the query that issued it: not for another collection
    # (even with the same sort key shape), nor for the same one with other filters.
    team = await api.create_team(me, "Members")
    other = await api.create_team(me, "Other")
    for i in range(2):
        await api.add_member(team, me, make_user(f"m{i}"))
    members = f"/api/v1/teams/{team['id']}/members"
    page = (await client.get(members, params={"limit": 1}, headers=me.headers)).json()
    assert page["next_cursor"]
    for path in ("/api/v1/teams", f"/api/v1/teams/{other['id']}/members"):
        problem = assert_problem(await client.get(path, params={"cursor": page["next_cursor"]},
                                                  headers=me.headers), 422)
        assert problem["errors"][0]["loc"] == ["query", "cursor"]
    # ... while the query it came from takes it, whatever the page size.
    rest = await client.get(members, params={"cursor": page["next_cursor"], "limit": 5},
                            headers=me.headers)
    assert rest.status_code == 200 and len(rest.json()["items"]) == 2


async def test_get_and_rename_team(client, api, make_user, outbox_mark, events_since):
    owner, admin = make_user("owner"), make_user("admin")
    team = await api.create_team(owner, "Before")
    await api.add_member(team, owner, admin, "admin")
    got = (await client.get(f"/api/v1/teams/{team['id']}", headers=admin.headers)).json()
    assert got == {**team, "my_role": "admin"}
    mark = outbox_mark()
    renamed = await client.patch(f"/api/v1/teams/{team['id']}", json={"name": "After"},
                                 headers=admin.headers)
    assert renamed.status_code == 200
    assert renamed.json() == {**team, "name": "After", "my_role": "admin"}
    (event,) = events_since(mark)
    assert event.type == "team.updated" and event.data["name"] == "After"
    assert event.actor_id == admin.id
    # The same name again changes nothing and tells no one.
    mark = outbox_mark()
    await client.patch(f"/api/v1/teams/{team['id']}", json={"name": "After"},
                       headers=admin.headers)
    assert events_since(mark) == []
    for body in [{}, {"name": ""}, {"name": "x", "owner": "y"}]:
        assert_problem(await client.patch(f"/api/v1/teams/{team['id']}", json=body,
                                          headers=owner.headers), 422)


@pytest.mark.parametrize("path", ["/api/v1/teams/not-a-uuid", "/api/v1/teams/123",
                                  f"/api/v1/teams/{uuid.uuid4()}",
                                  "/api/v1/teams/not-a-uuid/members"])
async def test_malformed_or_unknown_team_ids_are_404(client, make_user, path):
    user = make_user()
    assert_problem(await client.get(path, headers=user.headers), 404)
    if not path.endswith("/members"):
        assert_problem(await client.patch(path, json={"name": "x"}, headers=user.headers), 404)
        assert_problem(await client.delete(path, headers=user.headers), 404)


async def test_malformed_member_id_is_404(client, api, make_user):
    owner = make_user()
    team = await api.create_team(owner)
    for method in ["PATCH", "DELETE"]:
        response = await client.request(method, f"/api/v1/teams/{team['id']}/members/nope",
                                        json={"role": "admin"} if method == "PATCH" else None,
                                        headers=owner.headers)
        assert_problem(response, 404)


async def test_delete_team_deletes_its_projects_then_the_team(client, api, make_user,
                                                              outbox_mark, events_since, db):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner, "Doomed")
    await api.add_member(team, owner, member)
    first = await api.create_project(team, owner, "P1")
    second = await api.create_project(team, owner, "P2")
    await api.add_project_member(first, owner, member, "editor")
    mark = outbox_mark()
    response = await client.delete(f"/api/v1/teams/{team['id']}", headers=owner.headers)
    assert response.status_code == 204 and response.content == b""
    events = events_since(mark)
    assert [(e.type, e.data.get("project_id")) for e in events] == [
        ("project.deleted", first["id"]), ("project.deleted", second["id"]),
        ("team.deleted", None)]
    assert events[-1].data == {"team_id": team["id"], "name": "Doomed"}
    assert_problem(await client.get(f"/api/v1/teams/{team['id']}", headers=owner.headers), 404)
    assert_problem(await client.get(f"/api/v1/projects/{first['id']}", headers=owner.headers),
                   404)
    with db.connect() as conn:
        for table in ["team_members", "projects", "project_members"]:
            assert conn.execute(sa.text(f"SELECT count(*) FROM workspace.{table} "
                                        "WHERE team_id = :t"), {"t": team["id"]}).scalar() == 0


# --- adding members -----------------------------------------------------------------------


async def test_add_member_by_email_from_the_directory(client, api, make_user, identity,
                                                      outbox_mark, events_since):
    owner = make_user("owner")
    newcomer = make_user("newcomer", in_identity=False)  # known to the directory only
    team = await api.create_team(owner, "Crew")
    mark = outbox_mark()
    calls = len(identity.calls)
    response = await client.post(f"/api/v1/teams/{team['id']}/members",
                                 json={"email": newcomer.email.upper(), "role": "member"},
                                 headers=owner.headers)
    assert response.status_code == 201, response.text
    member = response.json()
    assert member == {"user_id": str(newcomer.id), "email": newcomer.email,
                      "full_name": newcomer.full_name, "role": "member",
                      "joined_at": member["joined_at"]}
    assert identity.calls[calls:] == []
    [event] = events_since(mark)
    assert event.type == "team.member_added"
    assert event.data == {"team_id": team["id"], "team_name": "Crew",
                          "user_id": str(newcomer.id), "email": newcomer.email,
                          "full_name": newcomer.full_name, "role": "member"}
    (await client.get(f"/api/v1/teams/{team['id']}", headers=newcomer.headers)).raise_for_status()


async def test_add_member_reads_through_to_identity_on_a_directory_miss(
        client, api, make_user, identity, db):
    owner = make_user("owner")
    newcomer = make_user("just-registered", in_directory=False)
    team = await api.create_team(owner)
    calls = len(identity.calls)
    response = await client.post(f"/api/v1/teams/{team['id']}/members",
                                 json={"email": newcomer.email, "role": "admin"},
                                 headers=owner.headers)
    assert response.status_code == 201, response.text
    assert response.json()["full_name"] == newcomer.full_name
    # The caller's own token was forwarded.
    assert identity.calls[calls:] == [("lookup", f"Bearer {owner.token}")]
    with db.connect() as conn:
        row = conn.execute(sa.text("SELECT email, full_name FROM workspace.user_directory "
                                   "WHERE user_id = :id"), {"id": newcomer.id}).one()
    assert tuple(row) == (newcomer.email, newcomer.full_name)


async def test_add_unknown_email_is_404(client, api, make_user):
    owner = make_user()
    team = await api.create_team(owner)
    response = await client.post(f"/api/v1/teams/{team['id']}/members",
                                 json={"email": "nobody-here@example.com", "role": "member"},
                                 headers=owner.headers)
    assert_problem(response, 404)


async def test_identity_unreachable_on_a_miss_is_503(client, api, make_user, identity,
                                                     settings, verifier, db):
    import httpx
    from devstack.pytest_plugin import asgi_client
    from workspace.main import create_app

    owner = make_user()
    stranger = make_user("stranger", in_directory=False)
    team = await api.create_team(owner)
    identity.down = True
    response = await client.post(f"/api/v1/teams/{team['id']}/members",
                                 json={"email": stranger.email, "role": "member"},
                                 headers=owner.headers)
    assert_problem(response, 503)
    # And with nothing listening at all (a real connection refused, short timeout).
    dead = settings.model_copy(update={"identity_url": "http://127.0.0.1:9",
                                       "identity_timeout_seconds": 1.0})
    async with asgi_client(create_app(dead, token_verifier=verifier)) as other:
        response = await other.post(f"/api/v1/teams/{team['id']}/members",
                                    json={"email": stranger.email, "role": "member"},
                                    headers=owner.headers)
    assert_problem(response, 503)
    assert isinstance(response, httpx.Response)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM workspace.team_members "
                                    "WHERE team_id = :t"), {"t": team["id"]}).scalar() == 1


async def test_adding_an_existing_member_is_409(client, api, make_user):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, member)
    for email, role in [(member.email, "admin"), (owner.email, "member")]:
        response = await client.post(f"/api/v1/teams/{team['id']}/members",
                                     json={"email": email, "role": role}, headers=owner.headers)
        assert_problem(response, 409, "already-member")


@pytest.mark.parametrize("body", [
    {"email": "a@example.com"},  # role is required
    {"role": "member"},
    {"email": "not-an-email", "role": "member"},
    {"email": "a@example.com", "role": "owner"},  # ownership moves only by transfer
    {"email": "a@example.com", "role": "boss"},
    {"email": "a@example.com", "role": "member", "note": "hi"},
])
async def test_add_member_validation(client, api, make_user, body):
    owner = make_user()
    team = await api.create_team(owner)
    assert_problem(await client.post(f"/api/v1/teams/{team['id']}/members", json=body,
                                     headers=owner.headers), 422)


# --- roles --------------------------------------------------------------------------------


async def test_admin_manages_other_admins(client, api, make_user, outbox_mark, events_since):
    owner, admin, other = make_user("owner"), make_user("admin"), make_user("other")
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    await api.add_member(team, admin, other, "admin")
    mark = outbox_mark()
    demoted = await api.set_team_role(team, admin, other, "member")
    assert demoted["role"] == "member"
    [event] = events_since(mark)
    assert event.type == "team.member_role_changed"
    assert (event.data["old_role"], event.data["role"]) == ("admin", "member")
    response = await client.delete(f"/api/v1/teams/{team['id']}/members/{other.id}",
                                   headers=admin.headers)
    assert response.status_code == 204


async def test_same_role_is_a_no_op(client, api, make_user, outbox_mark, events_since):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, member)
    mark = outbox_mark()
    assert (await api.set_team_role(team, owner, member, "member"))["role"] == "member"
    assert (await api.set_team_role(team, owner, owner, "owner"))["role"] == "owner"
    assert events_since(mark) == []


async def test_the_owners_role_changes_only_by_transfer(client, api, make_user):
    owner, admin = make_user("owner"), make_user("admin")
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    for caller in [owner, admin]:
        for role in ["admin", "member"]:
            assert_problem(await client.patch(f"/api/v1/teams/{team['id']}/members/{owner.id}",
                                              json={"role": role}, headers=caller.headers),
                           409, "owner-cannot-leave")


async def test_transfer_ownership(client, api, make_user, outbox_mark, events_since, db):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner, "Handover")
    await api.add_member(team, owner, member)
    mark = outbox_mark()
    new_owner = await api.set_team_role(team, owner, member, "owner")
    assert new_owner["role"] == "owner"
    team_events = [e for e in events_since(mark) if e.type.startswith("team.")]
    assert [(e.data["user_id"], e.data["old_role"], e.data["role"]) for e in team_events] == [
        (str(owner.id), "owner", "admin"), (str(member.id), "member", "owner")]
    roles = {m["user_id"]: m["role"] for m in (await client.get(
        f"/api/v1/teams/{team['id']}/members", headers=owner.headers)).json()["items"]}
    assert roles == {str(owner.id): "admin", str(member.id): "owner"}
    # The old owner is an admin now: may not transfer again, may not delete the team.
    assert_problem(await client.patch(f"/api/v1/teams/{team['id']}/members/{owner.id}",
                                      json={"role": "owner"}, headers=owner.headers), 403)
    assert_problem(await client.delete(f"/api/v1/teams/{team['id']}", headers=owner.headers),
                   403)
    # ...and may leave, which the owner may not.
    assert_problem(await client.delete(f"/api/v1/teams/{team['id']}/members/{member.id}",
                                       headers=member.headers), 409, "owner-cannot-leave")
    assert (await client.delete(f"/api/v1/teams/{team['id']}/members/{owner.id}",
                                headers=owner.headers)).status_code == 204
    with db.connect() as conn:
        owners = conn.execute(sa.text("SELECT user_id FROM workspace.team_members "
                                      "WHERE team_id = :t AND role = 'owner'"),
                              {"t": team["id"]}).scalars().all()
    assert owners == [member.id]


async def test_unknown_target_member_is_404(client, api, make_user):
    owner, outsider = make_user("owner"), make_user("outsider")
    team = await api.create_team(owner)
    for method, body in [("PATCH", {"role": "admin"}), ("DELETE", None)]:
        response = await client.request(method,
                                        f"/api/v1/teams/{team['id']}/members/{outsider.id}",
                                        json=body, headers=owner.headers)
        assert_problem(response, 404)


@pytest.mark.parametrize("body", [{}, {"role": "boss"}, {"role": None},
                                  {"role": "admin", "x": 1}])
async def test_change_role_validation(client, api, make_user, body):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, member)
    assert_problem(await client.patch(f"/api/v1/teams/{team['id']}/members/{member.id}",
                                      json=body, headers=owner.headers), 422)


async def test_removed_member_event_and_access(client, api, make_user, outbox_mark,
                                               events_since):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner, "Crew")
    await api.add_member(team, owner, member)
    mark = outbox_mark()
    response = await client.delete(f"/api/v1/teams/{team['id']}/members/{member.id}",
                                   headers=owner.headers)
    assert response.status_code == 204
    [event] = events_since(mark)
    assert event.type == "team.member_removed"
    assert event.data == {"team_id": team["id"], "team_name": "Crew", "user_id": str(member.id),
                          "email": member.email, "full_name": member.full_name,
                          "role": "member"}
    assert_problem(await client.get(f"/api/v1/teams/{team['id']}", headers=member.headers), 404)
    teams = (await client.get("/api/v1/teams", headers=member.headers)).json()["items"]
    assert team["id"] not in {t["id"] for t in teams}
