"""Projects and project members: behaviour, validation and events."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from services.workspace.tests.workspace_helpers import assert_problem


async def test_create_project(client, api, make_user, outbox_mark, events_since):
    owner, admin, member = make_user("owner"), make_user("admin"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    await api.add_member(team, owner, member)
    mark = outbox_mark()
    response = await client.post("/api/v1/projects", headers=admin.headers, json={
        "team_id": team["id"], "name": " Launch ", "description": "Ship it\nsoon"})
    assert response.status_code == 201, response.text
    project = response.json()
    assert set(project) == {"id", "team_id", "name", "description", "created_at", "my_role"}
    assert (project["team_id"], project["name"], project["description"], project["my_role"]) \
        == (team["id"], "Launch", "Ship it\nsoon", "admin")
    assert project["created_at"].endswith("Z")
    [event] = events_since(mark)
    assert event.type == "project.created" and event.actor_id == admin.id
    assert event.data == {"project_id": project["id"], "team_id": team["id"], "name": "Launch",
                          "description": "Ship it\nsoon", "created_by": str(admin.id),
                          "implicit_admin_ids": [str(owner.id), str(admin.id)]}
    # Visible at once to the creator (and, as implicit admin, to the owner).
    for user in (admin, owner):
        got = await client.get(f"/api/v1/projects/{project['id']}", headers=user.headers)
        assert got.json() == project
    assert_problem(await client.get(f"/api/v1/projects/{project['id']}",
                                    headers=member.headers), 404)


async def test_description_defaults_to_empty(client, api, make_user):
    owner = make_user()
    team = await api.create_team(owner)
    assert (await api.create_project(team, owner))["description"] == ""


@pytest.mark.parametrize("body", [
    {"name": "x"},
    {"team_id": "not-a-uuid", "name": "x"},
    {"team_id": "TEAM", "name": ""},
    {"team_id": "TEAM", "name": "   "},
    {"team_id": "TEAM", "name": "x" * 101},
    {"team_id": "TEAM", "name": "x", "description": "d" * 10_001},
    {"team_id": "TEAM", "name": "x", "description": "nul\x00"},
    {"team_id": "TEAM", "name": "x", "board": "y"},
])
async def test_create_project_validation(client, api, make_user, body):
    owner = make_user()
    team = await api.create_team(owner)
    body = {k: team["id"] if v == "TEAM" else v for k, v in body.items()}
    assert_problem(await client.post("/api/v1/projects", json=body, headers=owner.headers), 422)


async def test_project_in_a_team_i_cannot_see_is_404(client, api, make_user):
    owner, stranger = make_user("owner"), make_user("stranger")
    team = await api.create_team(owner)
    for team_id in [team["id"], str(uuid.uuid4())]:
        response = await client.post("/api/v1/projects", headers=stranger.headers,
                                     json={"team_id": team_id, "name": "Sneaky"})
        assert_problem(response, 404)


async def test_list_projects(client, api, make_user):
    owner, viewer = make_user("owner"), make_user("viewer")
    team_a = await api.create_team(owner, "A")
    team_b = await api.create_team(owner, "B")
    await api.add_member(team_a, owner, viewer)
    a1 = await api.create_project(team_a, owner, "A1")
    a2 = await api.create_project(team_a, owner, "A2")
    b1 = await api.create_project(team_b, owner, "B1")
    await api.add_project_member(a2, owner, viewer, "viewer")
    everything = await api.all_pages("/api/v1/projects", owner, limit=1)
    assert [p["id"] for p in everything] == [a1["id"], a2["id"], b1["id"]]
    assert {p["my_role"] for p in everything} == {"admin"}
    only_a = await api.all_pages("/api/v1/projects", owner, team_id=team_a["id"])
    assert [p["id"] for p in only_a] == [a1["id"], a2["id"]]
    mine = await api.all_pages("/api/v1/projects", viewer)
    assert [(p["id"], p["my_role"]) for p in mine] == [(a2["id"], "viewer")]
    assert_problem(await client.get("/api/v1/projects", params={"team_id": team_b["id"]},
                                    headers=viewer.headers), 404)
    assert_problem(await client.get("/api/v1/projects", params={"team_id": str(uuid.uuid4())},
                                    headers=viewer.headers), 404)
    assert_problem(await client.get("/api/v1/projects", params={"team_id": "nope"},
                                    headers=viewer.headers), 422)


async def test_update_project(client, api, make_user, outbox_mark, events_since):
    owner = make_user()
    team = await api.create_team(owner)
    project = await api.create_project(team, owner, "Old", description="Keep")
    path = f"/api/v1/projects/{project['id']}"
    mark = outbox_mark()
    renamed = await client.patch(path, json={"name": "New"}, headers=owner.headers)
    assert renamed.status_code == 200
    assert renamed.json() == {**project, "name": "New"}
    described = await client.patch(path, json={"description": ""}, headers=owner.headers)
    assert described.json() == {**project, "name": "New", "description": ""}
    unchanged = await client.patch(path, json={}, headers=owner.headers)
    assert unchanged.json() == described.json()
    same = await client.patch(path, json={"name": "New"}, headers=owner.headers)
    assert same.status_code == 200
    events = events_since(mark)
    assert [e.type for e in events] == ["project.updated", "project.updated"]
    assert events[0].data == {"project_id": project["id"], "team_id": team["id"],
                              "name": "New", "description": "Keep"}
    for body in [{"name": None}, {"name": ""}, {"team_id": team["id"]}, {"name": "x" * 101}]:
        assert_problem(await client.patch(path, json=body, headers=owner.headers), 422)


async def test_delete_project(client, api, make_user, outbox_mark, events_since):
    owner, editor = make_user("owner"), make_user("editor")
    team = await api.create_team(owner)
    await api.add_member(team, owner, editor)
    project = await api.create_project(team, owner, "Gone")
    await api.add_project_member(project, owner, editor, "editor")
    mark = outbox_mark()
    response = await client.delete(f"/api/v1/projects/{project['id']}", headers=owner.headers)
    assert response.status_code == 204
    [event] = events_since(mark)
    assert event.type == "project.deleted"
    assert event.data == {"project_id": project["id"], "team_id": team["id"], "name": "Gone"}
    for user in (owner, editor):
        assert_problem(await client.get(f"/api/v1/projects/{project['id']}",
                                        headers=user.headers), 404)


@pytest.mark.parametrize("path", ["/api/v1/projects/nope", f"/api/v1/projects/{uuid.uuid4()}",
                                  "/api/v1/projects/nope/members"])
async def test_malformed_or_unknown_project_ids_are_404(client, make_user, path):
    assert_problem(await client.get(path, headers=make_user().headers), 404)


# --- project members ------------------------------------------------------------------------


async def test_project_members_list_implicit_admins_and_explicit_members(client, api,
                                                                        make_user):
    owner, admin, editor, plain = (make_user("owner"), make_user("admin"), make_user("editor"),
                                   make_user("plain"))
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    await api.add_member(team, owner, editor)
    await api.add_member(team, owner, plain)
    project = await api.create_project(team, owner)
    added = await api.add_project_member(project, admin, editor, "editor")
    assert added == {"user_id": str(editor.id), "email": editor.email,
                     "full_name": editor.full_name, "role": "editor",
                     "joined_at": added["joined_at"], "implicit": False}
    members = await api.all_pages(f"/api/v1/projects/{project['id']}/members", editor, limit=1)
    by_id = {m["user_id"]: m for m in members}
    assert len(members) == 3 and str(plain.id) not in by_id
    assert {k: (v["role"], v["implicit"]) for k, v in by_id.items()} == {
        str(owner.id): ("admin", True), str(admin.id): ("admin", True),
        str(editor.id): ("editor", False)}
    assert by_id[str(owner.id)]["email"] == owner.email
    assert all(m["joined_at"].endswith("Z") for m in members)


async def test_add_project_member_rules(client, api, make_user, outbox_mark, events_since):
    owner, admin, member, outsider = (make_user("owner"), make_user("admin"),
                                      make_user("member"), make_user("outsider"))
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    await api.add_member(team, owner, member)
    project = await api.create_project(team, owner, "Rules")
    path = f"/api/v1/projects/{project['id']}/members"

    async def add(user_id, role="viewer"):
        return await client.post(path, json={"user_id": str(user_id), "role": role},
                                 headers=owner.headers)

    body = assert_problem(await add(outsider.id), 422)
    assert body["errors"][0]["loc"] == ["body", "user_id"]
    assert_problem(await add(uuid.uuid4()), 422)
    assert_problem(await add(admin.id), 409, "implicit-admin")
    assert_problem(await add(owner.id, "admin"), 409, "implicit-admin")
    mark = outbox_mark()
    assert (await add(member.id)).status_code == 201
    [event] = events_since(mark)
    assert event.type == "project.member_added"
    assert event.data == {"project_id": project["id"], "team_id": team["id"],
                          "project_name": "Rules", "user_id": str(member.id),
                          "email": member.email, "full_name": member.full_name,
                          "role": "viewer", "implicit": False}
    assert_problem(await add(member.id, "editor"), 409, "already-member")
    for bad in [{"user_id": str(member.id)}, {"role": "viewer"},
                {"user_id": "x", "role": "viewer"},
                {"user_id": str(member.id), "role": "owner"},
                {"user_id": str(member.id), "role": "viewer", "x": 1}]:
        assert_problem(await client.post(path, json=bad, headers=owner.headers), 422)


async def test_change_and_remove_project_member(client, api, make_user, outbox_mark,
                                                events_since):
    owner, p_admin, member = make_user("owner"), make_user("p_admin"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, p_admin)
    await api.add_member(team, owner, member)
    project = await api.create_project(team, owner, "Roles")
    await api.add_project_member(project, owner, p_admin, "admin")
    await api.add_project_member(project, owner, member, "viewer")
    path = f"/api/v1/projects/{project['id']}/members/{member.id}"
    mark = outbox_mark()
    changed = await client.patch(path, json={"role": "editor"}, headers=p_admin.headers)
    assert changed.status_code == 200 and changed.json()["role"] == "editor"
    same = await client.patch(path, json={"role": "editor"}, headers=p_admin.headers)
    assert same.status_code == 200
    removed = await client.delete(path, headers=p_admin.headers)
    assert removed.status_code == 204
    events = events_since(mark)
    assert [(e.type, e.data["role"], e.data.get("old_role"), e.data["implicit"])
            for e in events] == [("project.member_role_changed", "editor", "viewer", False),
                                 ("project.member_removed", "editor", None, False)]
    assert_problem(await client.get(f"/api/v1/projects/{project['id']}",
                                    headers=member.headers), 404)
    # Gone now: 404 for a change or a second removal; the member is still in the team.
    assert_problem(await client.patch(path, json={"role": "viewer"}, headers=owner.headers), 404)
    assert_problem(await client.delete(path, headers=owner.headers), 404)
    (await client.get(f"/api/v1/teams/{team['id']}", headers=member.headers)).raise_for_status()
    # An explicit admin may demote themself (the team's owner remains an admin).
    me = f"/api/v1/projects/{project['id']}/members/{p_admin.id}"
    assert (await client.patch(me, json={"role": "viewer"},
                               headers=p_admin.headers)).status_code == 200
    assert_problem(await client.patch(me, json={"role": "admin"}, headers=p_admin.headers), 403)


async def test_implicit_admins_cannot_be_changed_or_removed(client, api, make_user):
    owner, admin, p_admin = make_user("owner"), make_user("admin"), make_user("p_admin")
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    await api.add_member(team, owner, p_admin)
    project = await api.create_project(team, owner)
    await api.add_project_member(project, owner, p_admin, "admin")
    for target in (owner, admin):
        path = f"/api/v1/projects/{project['id']}/members/{target.id}"
        for caller in (owner, admin, p_admin):
            assert_problem(await client.patch(path, json={"role": "viewer"},
                                              headers=caller.headers), 409, "implicit-admin")
            assert_problem(await client.delete(path, headers=caller.headers), 409,
                           "implicit-admin")


async def test_project_member_target_outside_project(client, api, make_user):
    owner, plain = make_user("owner"), make_user("plain")
    team = await api.create_team(owner)
    await api.add_member(team, owner, plain)
    project = await api.create_project(team, owner)
    for target in [plain.id, uuid.uuid4(), "not-a-uuid"]:
        path = f"/api/v1/projects/{project['id']}/members/{target}"
        assert_problem(await client.patch(path, json={"role": "viewer"},
                                          headers=owner.headers), 404)
        assert_problem(await client.delete(path, headers=owner.headers), 404)


async def test_leaving_the_team_drops_project_roles(client, api, make_user, outbox_mark,
                                                    events_since, db):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, member)
    first = await api.create_project(team, owner, "First")
    await api.create_project(team, owner, "Untouched")
    third = await api.create_project(team, owner, "Third")
    await api.add_project_member(first, owner, member, "editor")
    await api.add_project_member(third, owner, member, "viewer")
    mark = outbox_mark()
    response = await client.delete(f"/api/v1/teams/{team['id']}/members/{member.id}",
                                   headers=member.headers)
    assert response.status_code == 204
    events = events_since(mark)
    assert [(e.type, e.data.get("project_id"), e.data["role"], e.data.get("implicit"))
            for e in events] == [
        ("project.member_removed", first["id"], "editor", False),
        ("project.member_removed", third["id"], "viewer", False),
        ("team.member_removed", None, "member", None)]
    assert all(e.actor_id == member.id for e in events)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM workspace.project_members "
                                    "WHERE user_id = :u"), {"u": member.id}).scalar() == 0
    # Rejoining does not bring the old project roles back.
    await api.add_member(team, owner, member)
    assert await api.all_pages("/api/v1/projects", member, team_id=team["id"]) == []
