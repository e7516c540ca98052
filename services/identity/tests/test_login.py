"""POST /api/v1/auth/login, including the failure throttling."""

from __future__ import annotations

import jwt

from services.identity.tests.identity_helpers import PASSWORD, assert_problem, unique_email


async def test_login_returns_a_token_pair(client, register, settings, signing_key):
    user = await register()
    response = await client.post("/api/v1/auth/login",
                                 json={"email": user["email"].upper(), "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds == 900
    assert len(body["refresh_token"]) >= 60
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = jwt.decode(body["access_token"], signing_key.public_key(), algorithms=["RS256"],
                        audience="kanban", issuer="kanban-identity")
    assert claims["sub"] == user["id"]
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]


async def test_wrong_password_and_unknown_email_get_the_same_401(client, register):
    user = await register()
    wrong = await client.post("/api/v1/auth/login",
                              json={"email": user["email"], "password": "not the password"})
    unknown = await client.post("/api/v1/auth/login",
                                json={"email": unique_email("ghost"), "password": PASSWORD})
    assert assert_problem(wrong, 401) == assert_problem(unknown, 401)


async def test_login_body_is_validated(client):
    response = await client.post("/api/v1/auth/login",
                                 json={"email": unique_email(), "password": PASSWORD, "x": 1})
    assert_problem(response, 422)


async def test_five_failures_block_the_email_even_with_the_right_password(client, register,
                                                                          login):
    user = await register()
    for _ in range(5):
        response = await client.post("/api/v1/auth/login",
                                     json={"email": user["email"], "password": "wrong-password"})
        assert_problem(response, 401)
    blocked = await client.post("/api/v1/auth/login",
                                json={"email": user["email"], "password": PASSWORD})
    assert_problem(blocked, 429)
    assert 1 <= int(blocked.headers["retry-after"]) <= 900
    # Throttling is per e-mail: somebody else from the same address is not affected.
    other = await register()
    await login(other["email"])


async def test_successful_logins_are_not_counted(client, register, login):
    user = await register()
    for _ in range(8):
        await login(user["email"])


async def test_failures_per_client_address_are_limited(settings, make_client, register):
    limited = settings.model_copy(update={"login_max_failures_per_client": 3})
    user = await register()
    async with make_client(limited) as client:
        attacker = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
        for _ in range(3):
            response = await client.post(
                "/api/v1/auth/login", headers=attacker,
                json={"email": unique_email("spray"), "password": "guess-guess"})
            assert_problem(response, 401)
        blocked = await client.post("/api/v1/auth/login", headers=attacker,
                                    json={"email": user["email"], "password": PASSWORD})
        assert_problem(blocked, 429)
        assert int(blocked.headers["retry-after"]) >= 1
        # Another client address may still sign in.
        ok = await client.post("/api/v1/auth/login", headers={"X-Forwarded-For": "198.51.100.1"},
                               json={"email": user["email"], "password": PASSWORD})
        assert ok.status_code == 200, ok.text


async def test_a_raised_hashing_cost_upgrades_the_stored_hash_at_login(settings, make_client,
                                                                        register, db):
    import sqlalchemy as sa

    user = await register()

    def stored_hash() -> str:
        with db.connect() as conn:
            return conn.execute(sa.text("SELECT password_hash FROM identity.users WHERE id = :id"),
                                {"id": user["id"]}).scalar_one()

    assert "m=1024,t=1,p=1" in stored_hash()
    stronger = settings.model_copy(update={"argon2_time_cost": 2, "argon2_memory_cost": 2048})
    async with make_client(stronger) as client:
        response = await client.post("/api/v1/auth/login",
                                     json={"email": user["email"], "password": PASSWORD})
        assert response.status_code == 200, response.text
    assert "m=2048,t=2,p=1" in stored_hash()
