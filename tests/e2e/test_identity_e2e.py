"""Identity through the gateway: the account lifecycle and every malformed-token variant."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.testing import assert_problem, unique_email

ME = "/api/v1/users/me"


def test_register_login_me_refresh_logout(api: httpx.Client):
    email = unique_email("alice")
    registered = api.post("/api/v1/auth/register",
                          json={"email": email, "password": "s3cret-pass", "full_name": "Alice"})
    assert registered.status_code == 201, registered.text
    user = registered.json()
    assert set(user) == {"id", "email", "full_name", "created_at"}
    assert user["created_at"].endswith("Z")

    login = api.post("/api/v1/auth/login", json={"email": email.upper(),
                                                 "password": "s3cret-pass"})
    assert login.status_code == 200, login.text
    pair = login.json()
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 900

    me = api.get(ME, headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200 and me.json() == user
    assert me.headers["x-request-id"]

    rotated = api.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200
    new_pair = rotated.json()
    assert new_pair["refresh_token"] != pair["refresh_token"]
    assert api.get(ME, headers={"Authorization": f"Bearer {new_pair['access_token']}"}
                   ).status_code == 200

    # Reuse of the rotated token: 401, and the whole family (including the new token) dies.
    assert_problem(api.post("/api/v1/auth/refresh",
                            json={"refresh_token": pair["refresh_token"]}), 401)
    assert_problem(api.post("/api/v1/auth/refresh",
                            json={"refresh_token": new_pair["refresh_token"]}), 401)

    again = api.post("/api/v1/auth/login", json={"email": email, "password": "s3cret-pass"})
    assert api.post("/api/v1/auth/logout",
                    json={"refresh_token": again.json()["refresh_token"]}).status_code == 204
    assert_problem(api.post("/api/v1/auth/refresh",
                            json={"refresh_token": again.json()["refresh_token"]}), 401)


def test_wrong_password_and_unknown_email_answer_the_same(api: httpx.Client, make_user):
    user = make_user("bob")
    wrong = assert_problem(api.post("/api/v1/auth/login",
                                    json={"email": user.email, "password": "nope-nope"}), 401)
    unknown = assert_problem(api.post("/api/v1/auth/login",
                                      json={"email": unique_email(), "password": "nope-nope"}),
                             401)
    assert wrong["detail"] == unknown["detail"]


def test_duplicate_email_is_409_case_insensitively(api: httpx.Client, make_user):
    user = make_user("carol")
    assert_problem(api.post("/api/v1/auth/register",
                            json={"email": user.email.upper(), "password": "another-pass",
                                  "full_name": "Carol 2"}), 409)


def test_invalid_registration_is_422(api: httpx.Client):
    body = assert_problem(api.post("/api/v1/auth/register",
                                   json={"email": "not-an-email", "password": "short",
                                         "full_name": " "}), 422)
    assert body["errors"] and all("loc" in e and "msg" in e for e in body["errors"])
    assert_problem(api.post("/api/v1/auth/register",
                            json={"email": unique_email(), "password": "long-enough",
                                  "full_name": "X", "is_admin": True}), 422)


def test_profile_update_and_password_change(api: httpx.Client, make_user):
    user = make_user("dave")
    patched = api.patch(ME, json={"full_name": "David"}, headers=user.headers)
    assert patched.status_code == 200 and patched.json()["full_name"] == "David"
    wrong = assert_problem(api.post(f"{ME}/password", headers=user.headers,
                                    json={"current_password": "wrong-one",
                                          "new_password": "brand-new-pass"}), 422)
    assert wrong["errors"][0]["loc"] == ["body", "current_password"]
    changed = api.post(f"{ME}/password", headers=user.headers,
                       json={"current_password": user.password,
                             "new_password": "brand-new-pass"})
    assert changed.status_code == 204
    assert_problem(api.post("/api/v1/auth/refresh",
                            json={"refresh_token": user.refresh_token}), 401)
    assert api.post("/api/v1/auth/login", json={"email": user.email,
                                                "password": "brand-new-pass"}).status_code == 200


def test_jwks_is_public_and_verifies_issued_tokens(api: httpx.Client, make_user):
    user = make_user("erin")
    jwks = api.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    kid = jwt.get_unverified_header(user.access_token)["kid"]
    key = next(k for k in jwks.json()["keys"] if k["kid"] == kid)
    claims = jwt.decode(user.access_token, jwt.PyJWK(key).key, algorithms=["RS256"],
                        audience="kanban", issuer="kanban-identity")
    assert claims["sub"] == user.id and claims["typ"] == "access"


# --- every malformed token variant -> 401 at the gateway ----------------------------------


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
def signing_key(stack):
    pem = (stack.state_dir / "identity" / "signing-key.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def _claims(sub: str, **overrides) -> dict:
    now = int(time.time())
    claims = {"sub": sub, "iss": "kanban-identity", "aud": "kanban", "iat": now,
              "exp": now + 600, "jti": str(uuid.uuid4()), "typ": "access"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _variants(user, private_key, kid: str) -> dict[str, str]:
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = jwt.encode(_claims(user.id), private_key, algorithm="RS256", headers={"kid": kid})
    header, payload, _ = good.split(".")
    now = int(time.time())
    return {
        "garbage": "this-is-not-a-token",
        "truncated": good[: len(good) // 2],
        "bad signature": jwt.encode(_claims(user.id), other_key, algorithm="RS256",
                                    headers={"kid": kid}),
        "tampered payload": f"{header}.{_b64(_claims(str(uuid.uuid4())))}.{good.split('.')[2]}",
        "alg none": f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{payload}.",
        "HS256 with the public key": f"{_b64({'alg': 'HS256', 'kid': kid})}.{payload}."
        + _hs256_signature(f"{_b64({'alg': 'HS256', 'kid': kid})}.{payload}", public_pem),
        "expired": jwt.encode(_claims(user.id, exp=now - 10, iat=now - 700), private_key,
                              algorithm="RS256", headers={"kid": kid}),
        "not yet valid": jwt.encode(_claims(user.id, nbf=now + 600), private_key,
                                    algorithm="RS256", headers={"kid": kid}),
        "wrong iss": jwt.encode(_claims(user.id, iss="someone-else"), private_key,
                                algorithm="RS256", headers={"kid": kid}),
        "wrong aud": jwt.encode(_claims(user.id, aud="another-api"), private_key,
                                algorithm="RS256", headers={"kid": kid}),
        "unknown kid": jwt.encode(_claims(user.id), private_key, algorithm="RS256",
                                  headers={"kid": "no-such-key"}),
        "refresh used as access": user.refresh_token,
        "typ refresh": jwt.encode(_claims(user.id, typ="refresh"), private_key,
                                  algorithm="RS256", headers={"kid": kid}),
    }


def _hs256_signature(signing_input: str, secret: bytes) -> str:
    import hashlib
    import hmac

    return _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def test_every_malformed_token_is_401_problem_at_the_gateway(api, make_user, signing_key):
    user = make_user("mallory")
    kid = jwt.get_unverified_header(user.access_token)["kid"]
    assert api.get(ME, headers=user.headers).status_code == 200  # the control
    assert_problem(api.get(ME), 401)
    assert_problem(api.get(ME, headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401)
    for name, token in _variants(user, signing_key, kid).items():
        response = api.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json"), name


def test_every_malformed_token_is_401_at_the_service_directly(stack, make_user, signing_key):
    """Defence in depth: identity re-verifies, so it is safe to expose alone."""
    user = make_user("trudy")
    kid = jwt.get_unverified_header(user.access_token)["kid"]
    direct = stack.services["identity"].url
    with httpx.Client(base_url=direct) as client:
        assert client.get(ME, headers=user.headers).status_code == 200
        for name, token in _variants(user, signing_key, kid).items():
            response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, f"{name}: {response.status_code}"
