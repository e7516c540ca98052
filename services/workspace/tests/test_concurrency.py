"""Conflicting requests at the same moment end in one consistent state: never two owners,
never a duplicate membership, never a 500 (team row locks + unique constraints -> 409)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from services.workspace.tests.workspace_helpers import assert_problem


def statuses(*responses) -> list[int]:
    return sorted(r.status_code for r in responses)


def count(db, query: str, **params) -> int:
    with db.connect() as conn:
        return conn.execute(sa.text(query), params).scalar_one()


async def test_two_admins_add_the_same_member(client, api, make_user, db):
    owner, admin, newcomer = make_user("owner"), make_user("admin"), make_user("new")
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    path = f"/api/v1/teams/{team['id']}/members"
    for _ in range(3):
        newcomer = make_user("new")
        a, b = await asyncio.gather(
            client.post(path, json={"email": newcomer.email, "role": "member"},
                        headers=owner.headers),
            client.post(path, json={"email": newcomer.email, "role": "admin"},
                        headers=admin.headers))
        assert statuses(a, b) == [201, 409], (a.text, b.text)
        assert_problem(a if a.status_code == 409 else b, 409, "already-member")
        assert count(db, "SELECT count(*) FROM workspace.team_members WHERE team_id = :t "
                         "AND user_id = :u", t=team["id"], u=newcomer.id) == 1


async def test_two_concurrent_ownership_transfers(client, api, make_user, db):
    owner, a, b = make_user("owner"), make_user("a"), make_user("b")
    team = await api.create_team(owner)
    await api.add_member(team, owner, a)
    await api.add_member(team, owner, b)
    base = f"/api/v1/teams/{team['id']}/members"
    first, second = await asyncio.gather(
        client.patch(f"{base}/{a.id}", json={"role": "owner"}, headers=owner.headers),
        client.patch(f"{base}/{b.id}", json={"role": "owner"}, headers=owner.headers))
    # The second runs after the first committed: its caller is no longer the owner.
    assert statuses(first, second) == [200, 403], (first.text, second.text)
    assert count(db, "SELECT count(*) FROM workspace.team_members WHERE team_id = :t "
                     "AND role = 'owner'", t=team["id"]) == 1


async def test_transfers_between_two_owners_racing(client, api, make_user, db):
    """The owner hands over to A while A (just promoted admin) tries to take it... only one
    owner ever."""
    owner, a = make_user("owner"), make_user("a")
    team = await api.create_team(owner)
    await api.add_member(team, owner, a, "admin")
    base = f"/api/v1/teams/{team['id']}/members"
    results = await asyncio.gather(
        client.patch(f"{base}/{a.id}", json={"role": "owner"}, headers=owner.headers),
        client.patch(f"{base}/{owner.id}", json={"role": "owner"}, headers=a.headers),
        client.delete(f"{base}/{owner.id}", headers=a.headers))
    assert all(r.status_code < 500 for r in results), [r.text for r in results]
    assert count(db, "SELECT count(*) FROM workspace.team_members WHERE team_id = :t "
                     "AND role = 'owner'", t=team["id"]) == 1


async def test_two_admins_add_the_same_project_member(client, api, make_user, db):
    owner, admin, member = make_user("owner"), make_user("admin"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    await api.add_member(team, owner, member)
    project = await api.create_project(team, owner)
    path = f"/api/v1/projects/{project['id']}/members"
    a, b = await asyncio.gather(
        client.post(path, json={"user_id": str(member.id), "role": "viewer"},
                    headers=owner.headers),
        client.post(path, json={"user_id": str(member.id), "role": "editor"},
                    headers=admin.headers))
    assert statuses(a, b) == [201, 409], (a.text, b.text)


async def test_adding_to_a_project_while_leaving_the_team(client, api, make_user, db):
    owner, member = make_user("owner"), make_user("member")
    team = await api.create_team(owner)
    project = await api.create_project(team, owner)
    for _ in range(3):
        await api.add_member(team, owner, member)
        added, left = await asyncio.gather(
            client.post(f"/api/v1/projects/{project['id']}/members",
                        json={"user_id": str(member.id), "role": "editor"},
                        headers=owner.headers),
            client.delete(f"/api/v1/teams/{team['id']}/members/{member.id}",
                          headers=member.headers))
        assert left.status_code == 204
        assert added.status_code in (201, 422), added.text
        # Whatever the order, a non-member of the team keeps no project role.
        assert count(db, "SELECT count(*) FROM workspace.project_members WHERE user_id = :u",
                     u=member.id) == 0


async def test_promotion_and_removal_race(client, api, make_user, db):
    owner, admin, member = make_user("owner"), make_user("admin"), make_user("member")
    team = await api.create_team(owner)
    await api.add_member(team, owner, admin, "admin")
    await api.add_member(team, owner, member)
    base = f"/api/v1/teams/{team['id']}/members/{member.id}"
    promote, remove = await asyncio.gather(
        client.patch(base, json={"role": "admin"}, headers=owner.headers),
        client.delete(base, headers=admin.headers))
    assert remove.status_code == 204
    assert promote.status_code in (200, 404), promote.text
    assert count(db, "SELECT count(*) FROM workspace.team_members WHERE team_id = :t "
                     "AND user_id = :u", t=team["id"], u=member.id) == 0


async def test_deleting_a_team_while_creating_a_project(client, api, make_user, db):
    owner = make_user("owner")
    team = await api.create_team(owner)
    created, deleted = await asyncio.gather(
        client.post("/api/v1/projects", json={"team_id": team["id"], "name": "Late"},
                    headers=owner.headers),
        client.delete(f"/api/v1/teams/{team['id']}", headers=owner.headers))
    assert deleted.status_code == 204
    assert created.status_code in (201, 404), created.text
    assert count(db, "SELECT count(*) FROM workspace.projects WHERE team_id = :t",
                 t=team["id"]) == 0


async def test_a_burst_of_adds_keeps_every_member_once(client, api, make_user, db):
    owner = make_user("owner")
    team = await api.create_team(owner)
    users = [make_user(f"u{i}") for i in range(6)]
    path = f"/api/v1/teams/{team['id']}/members"
    responses = await asyncio.gather(*[
        client.post(path, json={"email": u.email, "role": "member"}, headers=owner.headers)
        for u in users for _ in range(2)])
    assert sorted(r.status_code for r in responses) == [201] * 6 + [409] * 6
    assert count(db, "SELECT count(*) FROM workspace.team_members WHERE team_id = :t",
                 t=team["id"]) == 7
