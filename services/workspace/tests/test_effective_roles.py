"""The consumer contract: every change of a user's *effective* project role (admin if team
owner/admin, else the explicit project role) is published as a project.member_* event, so
boards and notifier can keep their copies from project events alone.

Each test replays the events onto a tiny read model and checks it against what the API says."""

from __future__ import annotations

from contracts.events import Envelope

from services.workspace.tests.workspace_helpers import summary


def apply(model: dict[tuple[str, str], str], events: list[Envelope]) -> None:
    """What a consumer does: (project, user) -> effective role."""
    for event in events:
        data = event.data
        if event.type == "project.created":
            for user_id in data["implicit_admin_ids"]:
                model[(data["project_id"], user_id)] = "admin"
        elif event.type in ("project.member_added", "project.member_role_changed"):
            model[(data["project_id"], data["user_id"])] = data["role"]
        elif event.type == "project.member_removed":
            assert model.pop((data["project_id"], data["user_id"])) == data["role"]
        elif event.type == "project.deleted":
            for key in [k for k in model if k[0] == data["project_id"]]:
                del model[key]


async def truth(api, projects: list[dict], viewer) -> dict[tuple[str, str], str]:
    """Effective roles according to the API (listed by someone who sees every project)."""
    out = {}
    for project in projects:
        for member in await api.all_pages(f"/api/v1/projects/{project['id']}/members", viewer):
            out[(project["id"], member["user_id"])] = member["role"]
    return out


async def test_the_event_stream_reproduces_effective_roles(api, client, make_user, outbox_mark,
                                                           events_since):
    mark = outbox_mark()
    owner, alice, bob, carol = (make_user("owner"), make_user("alice"), make_user("bob"),
                                make_user("carol"))
    team = await api.create_team(owner)
    await api.add_member(team, owner, alice)
    p1 = await api.create_project(team, owner, "P1")
    p2 = await api.create_project(team, owner, "P2")
    await api.add_project_member(p1, owner, alice, "viewer")
    model: dict[tuple[str, str], str] = {}
    applied = {"up_to": mark}   # the outbox id the model has been brought up to

    async def check() -> None:
        apply(model, events_since(applied["up_to"]))
        applied["up_to"] = outbox_mark()
        assert model == await truth(api, [p1, p2], owner)

    await check()
    # Promotion: explicit viewer in P1 -> role_changed; nothing in P2 -> added (implicit).
    m = outbox_mark()
    await api.set_team_role(team, owner, alice, "admin")
    assert [s for s in summary(events_since(m)) if s[0].startswith("project.")] == [
        ("project.member_role_changed", str(alice.id), "admin", True),
        ("project.member_added", str(alice.id), "admin", True)]
    await check()
    # Demotion: back to the explicit viewer role in P1, removed from P2.
    m = outbox_mark()
    await api.set_team_role(team, owner, alice, "member")
    events = events_since(m)
    assert [s for s in summary(events) if s[0].startswith("project.")] == [
        ("project.member_role_changed", str(alice.id), "viewer", True),
        ("project.member_removed", str(alice.id), "admin", True)]
    assert events[1].data["old_role"] == "admin"
    await check()
    # Joining as admin: implicit admin of every project.
    m = outbox_mark()
    await api.add_member(team, owner, bob, "admin")
    assert [s for s in summary(events_since(m)) if s[0].startswith("project.")] == [
        ("project.member_added", str(bob.id), "admin", True),
        ("project.member_added", str(bob.id), "admin", True)]
    await check()
    # An admin with an explicit admin role: demotion changes nothing in that project.
    await api.add_member(team, owner, carol)
    await api.add_project_member(p2, owner, carol, "admin")
    await api.set_team_role(team, owner, carol, "admin")
    await check()
    m = outbox_mark()
    await api.set_team_role(team, owner, carol, "member")
    assert [s for s in summary(events_since(m)) if s[0].startswith("project.")] == [
        ("project.member_removed", str(carol.id), "admin", True)]  # P1 only
    await check()
    # Ownership transfer to a plain member: gains admin in P1 (P2: explicit admin already);
    # the old owner stays an admin, so nothing changes for them.
    m = outbox_mark()
    await api.set_team_role(team, owner, carol, "owner")
    assert [s for s in summary(events_since(m)) if s[0].startswith("project.")] == [
        ("project.member_added", str(carol.id), "admin", True)]
    await check()
    # Removing an admin from the team: removed (implicit) from every project.
    m = outbox_mark()
    response = await client.delete(f"/api/v1/teams/{team['id']}/members/{bob.id}",
                                   headers=carol.headers)
    assert response.status_code == 204
    assert [s for s in summary(events_since(m)) if s[0].startswith("project.")] == [
        ("project.member_removed", str(bob.id), "admin", True),
        ("project.member_removed", str(bob.id), "admin", True)]
    await check()
    # A new project after all that: implicit_admin_ids = current owner + admins.
    p3 = await api.create_project(team, carol, "P3")
    created = [e for e in events_since(applied["up_to"]) if e.type == "project.created"][0]
    assert sorted(created.data["implicit_admin_ids"]) == sorted([str(owner.id), str(carol.id)])
    apply(model, events_since(applied["up_to"]))
    applied["up_to"] = outbox_mark()
    assert model == await truth(api, [p1, p2, p3], carol)
    # Deleting the team empties the model.
    await client.delete(f"/api/v1/teams/{team['id']}", headers=carol.headers)
    apply(model, events_since(applied["up_to"]))
    assert model == {}


async def test_payloads_name_the_affected_user(api, make_user, outbox_mark, events_since):
    owner, dana = make_user("owner"), make_user("dana")
    team = await api.create_team(owner, "Names")
    project = await api.create_project(team, owner, "Proj")
    mark = outbox_mark()
    await api.add_member(team, owner, dana, "admin")
    events = events_since(mark)
    assert [e.type for e in events] == ["team.member_added", "project.member_added"]
    assert events[1].data == {"project_id": project["id"], "team_id": team["id"],
                              "project_name": "Proj", "user_id": str(dana.id),
                              "email": dana.email, "full_name": dana.full_name,
                              "role": "admin", "implicit": True}
    assert {e.actor_id for e in events} == {owner.id}
    assert len({e.correlation_id for e in events}) == 1
