"""Refresh-token rotation, reuse detection, logout, JWKS and access-token checks."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from identity.keys import jwk_thumbprint, private_key_pem, public_key_pem

from services.identity.tests.identity_helpers import assert_problem, bearer


async def refresh(client, token: str):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_the_pair(client, signed_in):
    user, first = await signed_in()
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["token_type"] == "bearer" and second["expires_in"] == 900
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    me = await client.get("/api/v1/users/me", headers=bearer(second))
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    # The rotated token chain keeps working.
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200, third.text


async def test_reusing_a_rotated_token_revokes_the_whole_family(client, signed_in, login):
    user, first = await signed_in()
    second = (await refresh(client, first["refresh_token"])).json()
    assert_problem(await refresh(client, first["refresh_token"]), 401)  # replayed
    # The legitimate successor dies with the family...
    assert_problem(await refresh(client, second["refresh_token"]), 401)
    # ...but other sessions (families) of the user are unaffected.
    other = await login(user["email"])
    assert (await refresh(client, other["refresh_token"])).status_code == 200


async def test_unknown_and_expired_refresh_tokens_are_401(client, signed_in, db):
    assert_problem(await refresh(client, "not-a-token-we-issued"), 401)
    _, pair = await signed_in()
    with db.begin() as conn:
        conn.execute(sa.text(
            "UPDATE identity.refresh_tokens SET expires_at = now() - interval '1 second' "
            "WHERE token_hash = encode(sha256(convert_to(:token, 'UTF8')), 'hex')"),
            {"token": pair["refresh_token"]})
    assert_problem(await refresh(client, pair["refresh_token"]), 401)
    # An access token (a JWT, longer than any refresh token) is unknown too: 401, not 422.
    _, other = await signed_in()
    assert_problem(await refresh(client, other["access_token"]), 401)
    logout = await client.post("/api/v1/auth/logout",
                               json={"refresh_token": other["access_token"]})
    assert logout.status_code == 204   # nothing to revoke, as for any unknown token
    assert (await refresh(client, other["refresh_token"])).status_code == 200


async def test_refresh_body_is_validated(client):
    assert_problem(await client.post("/api/v1/auth/refresh", json={}), 422)
    assert_problem(await client.post("/api/v1/auth/refresh",
                                     json={"refresh_token": "x", "extra": True}), 422)


async def test_refresh_tokens_are_stored_hashed(client, signed_in, db):
    _, pair = await signed_in()
    with db.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM identity.refresh_tokens")).scalars()
        assert pair["refresh_token"] not in set(stored)


async def test_logout_revokes_the_family(client, signed_in):
    _, first = await signed_in()
    second = (await refresh(client, first["refresh_token"])).json()
    response = await client.post("/api/v1/auth/logout",
                                 json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 204 and response.content == b""
    assert_problem(await refresh(client, second["refresh_token"]), 401)


async def test_logout_with_an_unknown_token_is_still_204(client):
    response = await client.post("/api/v1/auth/logout", json={"refresh_token": "nope"})
    assert response.status_code == 204


async def test_jwks_publishes_the_signing_key(client, signed_in, signing_key):
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks = response.json()
    (key,) = jwks["keys"]
    assert {"kty", "use", "alg", "kid", "n", "e"} <= key.keys()
    assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")
    assert key["kid"] == jwk_thumbprint(signing_key.public_key())
    _, pair = await signed_in()
    kid = jwt.get_unverified_header(pair["access_token"])["kid"]
    public = jwt.PyJWKSet.from_dict(jwks)[kid].key
    claims = jwt.decode(pair["access_token"], public, algorithms=["RS256"], audience="kanban",
                        issuer="kanban-identity")
    assert claims["typ"] == "access"


def forge(key: rsa.RSAPrivateKey, user_id: str, **overrides) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iss": "kanban-identity", "aud": "kanban", "iat": now,
              "exp": now + 300, "jti": str(uuid.uuid4()), "typ": "access", **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256",
                      headers={"kid": jwk_thumbprint(key.public_key())})


async def test_a_well_formed_token_is_accepted(client, register, signing_key):
    user = await register()
    response = await client.get("/api/v1/users/me",
                                headers=bearer(forge(signing_key, user["id"])))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("overrides", [
    {"typ": "refresh"},
    {"typ": None},
    {"exp": int(time.time()) - 120, "iat": int(time.time()) - 1000},
    {"aud": "someone-else"},
    {"iss": "evil-identity"},
    {"jti": None},
], ids=["typ-refresh", "no-typ", "expired", "wrong-aud", "wrong-iss", "no-jti"])
async def test_bad_access_tokens_are_401(client, register, signing_key, overrides):
    user = await register()
    response = await client.get("/api/v1/users/me",
                                headers=bearer(forge(signing_key, user["id"], **overrides)))
    assert_problem(response, 401)


async def test_tokens_from_unknown_keys_or_without_bearer_are_401(client, register):
    user = await register()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_problem(await client.get("/api/v1/users/me",
                                    headers=bearer(forge(stranger, user["id"]))), 401)
    assert_problem(await client.get("/api/v1/users/me"), 401)
    assert_problem(await client.get("/api/v1/users/me", headers=bearer("garbage")), 401)
    unsigned = jwt.encode({"sub": user["id"]}, key="", algorithm="none")
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(unsigned)), 401)


async def test_previous_keys_stay_valid_after_rotation(settings, make_client, register,
                                                       signing_key):
    """Rotation: the new key signs, the old public key is still published and accepted."""
    user = await register()
    old_token = forge(signing_key, user["id"])
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rotated = settings.model_copy(update={
        "signing_key_pem": type(settings.signing_key_pem)(private_key_pem(new_key).decode()),
        "previous_public_keys_pem": [public_key_pem(signing_key.public_key())]})
    async with make_client(rotated) as client:
        kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
        assert kids == [jwk_thumbprint(new_key.public_key()),
                        jwk_thumbprint(signing_key.public_key())]
        assert (await client.get("/api/v1/users/me", headers=bearer(old_token))).status_code == 200
        pair = (await client.post("/api/v1/auth/login", json={
            "email": user["email"], "password": "correct horse battery"})).json()
        assert jwt.get_unverified_header(pair["access_token"])["kid"] == kids[0]
