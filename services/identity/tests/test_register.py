"""POST /api/v1/auth/register."""

from __future__ import annotations

import re
import uuid

import pytest
from contracts.events import UserRegistered, parse_event
from contracts.streams import IDENTITY_EVENTS

from services.identity.tests.identity_helpers import PASSWORD, assert_problem, unique_email

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


async def test_register_returns_the_user(client):
    email = unique_email("Mixed.Case")
    response = await client.post("/api/v1/auth/register", json={
        "email": email, "password": PASSWORD, "full_name": "  Ada Lovelace "})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "email", "full_name", "created_at"}
    uuid.UUID(body["id"])
    assert body["email"] == email.lower()
    assert body["full_name"] == "Ada Lovelace"
    assert RFC3339_UTC.match(body["created_at"]), body["created_at"]


async def test_duplicate_email_in_another_case_is_a_conflict(client, register):
    user = await register()
    response = await client.post("/api/v1/auth/register", json={
        "email": user["email"].upper(), "password": PASSWORD, "full_name": "Someone Else"})
    assert_problem(response, 409)


@pytest.mark.parametrize("change", [
    {"password": "short"},
    {"password": "x" * 129},
    {"full_name": ""},
    {"full_name": "   "},
    {"full_name": "x" * 101},
    {"full_name": "tab\tinside"},
    {"email": "not-an-email"},
    {"email": None},
    {"unexpected": "field"},
], ids=["short-password", "long-password", "empty-name", "blank-name", "long-name",
        "control-char-name", "bad-email", "null-email", "unknown-field"])
async def test_invalid_registrations_are_422(client, change):
    body = {"email": unique_email(), "password": PASSWORD, "full_name": "Ada", **change}
    response = await client.post("/api/v1/auth/register", json=body)
    problem = assert_problem(response, 422)
    assert problem["errors"] and all("loc" in e and "msg" in e for e in problem["errors"])


async def test_password_bounds_are_inclusive(client):
    for password in ("x" * 8, "y" * 128):
        response = await client.post("/api/v1/auth/register", json={
            "email": unique_email(), "password": password, "full_name": "Bounds"})
        assert response.status_code == 201, response.text


async def test_register_writes_a_user_registered_event(client, outbox_rows):
    email = unique_email("Events")
    response = await client.post(
        "/api/v1/auth/register", headers={"X-Request-ID": "req-register-1"},
        json={"email": email, "password": PASSWORD, "full_name": "Grace Hopper"})
    assert response.status_code == 201
    user = response.json()
    (row,) = outbox_rows("user.registered", user["id"])
    assert row["stream"] == IDENTITY_EVENTS
    envelope = parse_event(row["envelope"])
    assert envelope.type == "user.registered" and envelope.version == 1
    assert envelope.producer == "identity"
    assert str(envelope.actor_id) == user["id"]
    assert envelope.correlation_id == "req-register-1"
    payload = envelope.payload()
    assert payload == UserRegistered(user_id=uuid.UUID(user["id"]), email=email.lower(),
                                     full_name="Grace Hopper")


async def test_a_rejected_registration_writes_no_event(client, register, db):
    import sqlalchemy as sa

    user = await register()
    with db.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM identity.outbox")).scalar_one()
    response = await client.post("/api/v1/auth/register", json={
        "email": user["email"], "password": PASSWORD, "full_name": "Dup"})
    assert_problem(response, 409)
    with db.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM identity.outbox")).scalar_one()
    assert after == before
