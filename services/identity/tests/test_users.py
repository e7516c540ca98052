"""/api/v1/users/me: profile and password."""

from __future__ import annotations

import uuid

from contracts.events import UserUpdated, parse_event
from contracts.streams import IDENTITY_EVENTS

from services.identity.tests.identity_helpers import PASSWORD, assert_problem, bearer


async def test_me_returns_the_signed_in_user(client, signed_in):
    user, pair = await signed_in(full_name="Alan Turing")
    response = await client.get("/api/v1/users/me", headers=bearer(pair))
    assert response.status_code == 200
    assert response.json() == user


async def test_patch_me_changes_the_name_and_emits_user_updated(client, signed_in,
                                                                outbox_rows):
    user, pair = await signed_in(full_name="Old Name")
    response = await client.patch("/api/v1/users/me", headers={**bearer(pair),
                                                               "X-Request-ID": "req-patch-1"},
                                  json={"full_name": " New Name "})
    assert response.status_code == 200, response.text
    assert response.json() == {**user, "full_name": "New Name"}
    assert (await client.get("/api/v1/users/me", headers=bearer(pair))).json() == \
        response.json()
    (row,) = outbox_rows("user.updated", user["id"])
    assert row["stream"] == IDENTITY_EVENTS
    envelope = parse_event(row["envelope"])
    assert envelope.producer == "identity"
    assert str(envelope.actor_id) == user["id"]
    assert envelope.correlation_id == "req-patch-1"
    assert envelope.payload() == UserUpdated(user_id=uuid.UUID(user["id"]),
                                             email=user["email"], full_name="New Name")
    # Setting the same name again is a no-op: no second event.
    again = await client.patch("/api/v1/users/me", headers=bearer(pair),
                               json={"full_name": "New Name"})
    assert again.status_code == 200
    assert len(outbox_rows("user.updated", user["id"])) == 1


async def test_patch_me_validates(client, signed_in):
    _, pair = await signed_in()
    for body in ({"full_name": "  "}, {"full_name": ""}, {"email": "x@example.com"}, {}):
        assert_problem(await client.patch("/api/v1/users/me", headers=bearer(pair), json=body),
                       422)
    assert_problem(await client.patch("/api/v1/users/me", json={"full_name": "X"}), 401)


async def test_change_password(client, signed_in, login):
    user, pair = await signed_in()
    other_session = await login(user["email"])
    new_password = "a brand new secret"
    response = await client.post("/api/v1/users/me/password", headers=bearer(pair), json={
        "current_password": PASSWORD, "new_password": new_password})
    assert response.status_code == 204, response.text
    # Every refresh token of the user is revoked.
    for tokens in (pair, other_session):
        assert_problem(await client.post("/api/v1/auth/refresh",
                                         json={"refresh_token": tokens["refresh_token"]}), 401)
    # The old password no longer works, the new one does.
    old = await client.post("/api/v1/auth/login",
                            json={"email": user["email"], "password": PASSWORD})
    assert_problem(old, 401)
    await login(user["email"], new_password)


async def test_change_password_with_a_wrong_current_password_is_422(client, signed_in):
    _, pair = await signed_in()
    response = await client.post("/api/v1/users/me/password", headers=bearer(pair), json={
        "current_password": "not my password", "new_password": "whatever-it-is"})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "current_password"]
    assert problem["errors"][0]["msg"]
    # Nothing changed: the refresh token still works.
    refreshed = await client.post("/api/v1/auth/refresh",
                                  json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200


async def test_change_password_validates_the_new_password(client, signed_in):
    _, pair = await signed_in()
    response = await client.post("/api/v1/users/me/password", headers=bearer(pair), json={
        "current_password": PASSWORD, "new_password": "short"})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "new_password"]
    assert_problem(await client.post("/api/v1/users/me/password", json={
        "current_password": PASSWORD, "new_password": "long enough"}), 401)


async def test_internal_lookup_by_email_finds_a_user_and_404s_otherwise(client, signed_in):
    user, pair = await signed_in()
    headers = bearer(pair)
    found = await client.get("/internal/v1/users/lookup",
                             params={"email": user["email"].upper()}, headers=headers)
    assert found.status_code == 200 and found.json()["id"] == user["id"]
    missing = await client.get("/internal/v1/users/lookup",
                               params={"email": "nobody-here@example.com"}, headers=headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    anonymous = await client.get("/internal/v1/users/lookup", params={"email": user["email"]})
    assert anonymous.status_code == 401
