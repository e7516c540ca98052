"""Migrations, health, settings, signing keys and transaction boundaries."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from chassis.migrations import current_revision, head_revision
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.pytest_plugin import asgi_client
from identity.config import IdentitySettings
from identity.keys import (
    _b64url_uint,
    ensure_development_key,
    jwk_thumbprint,
    load_keyring,
    private_key_pem,
)
from identity.main import create_app
from pydantic import SecretStr, ValidationError

from services.identity.tests.identity_helpers import PASSWORD, unique_email

SERVICE_DIR = Path(__file__).resolve().parents[1]


def test_migrations_reach_head(db):
    with db.connect() as conn:
        assert current_revision(conn, "identity") == head_revision("identity") == "0001"
        tables = set(sa.inspect(conn).get_table_names(schema="identity"))
    assert {"users", "refresh_tokens", "outbox", "alembic_version"} <= tables


def test_the_alembic_cli_uses_identity_database_url(database_server):
    url = database_server.create_database("identity_cli")
    env = {**os.environ, "IDENTITY_DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"],
                            cwd=SERVICE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert current_revision(conn, "identity") == "0001"
    engine.dispose()


async def test_health(client):
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}


async def test_the_transaction_commits_before_the_response_is_sent(client, db):
    """The response must not announce a user the database does not have yet."""
    app = client._transport.app  # the running app of the fixture
    email = unique_email("commit")
    seen: dict[str, int] = {}
    body = json.dumps({"email": email, "password": PASSWORD, "full_name": "C"}).encode()

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            with db.connect() as conn:
                seen["rows"] = conn.execute(sa.text(
                    "SELECT count(*) FROM identity.users WHERE email = :e"),
                    {"e": email}).scalar_one()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/v1/auth/register",
             "raw_path": b"/api/v1/auth/register", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
             "client": ("127.0.0.1", 1234), "server": ("testserver", 80),
             "state": {}}
    await app(scope, receive, send)
    assert seen == {"status": 201, "rows": 1}


def test_production_refuses_development_defaults(monkeypatch):
    for name in list(os.environ):
        if name.startswith("IDENTITY_"):
            monkeypatch.delenv(name)
    with pytest.raises(ValidationError) as error:
        IdentitySettings(environment="production")
    message = str(error.value)
    assert "signing key" in message
    assert "development password" in message
    configured: dict[str, Any] = {"signing_key_file": "/secrets/key.pem", "cursor_secret": "x" * 32,
                  "database_url": "postgresql+psycopg://identity:s3cret@db:5432/identity"}
    with pytest.raises(ValidationError, match="argon2"):
        IdentitySettings(environment="production", argon2_memory_cost=1024, **configured)
    ok = IdentitySettings(environment="production", **configured)
    assert ok.production_problems() == []


def test_settings_come_from_identity_environment_variables(monkeypatch):
    monkeypatch.setenv("IDENTITY_ACCESS_TOKEN_TTL_SECONDS", "60")
    monkeypatch.setenv("IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM", '["a", "b"]')
    monkeypatch.setenv("IDENTITY_LOGIN_MAX_FAILURES_PER_EMAIL", "7")
    settings = IdentitySettings()
    assert settings.access_token_ttl_seconds == 60
    assert settings.previous_public_keys_pem == ["a", "b"]
    assert settings.login_max_failures_per_email == 7
    assert settings.refresh_token_ttl_seconds == 14 * 24 * 3600


def test_development_key_is_generated_once_and_private(tmp_path):
    settings = IdentitySettings(state_dir=tmp_path)
    first = load_keyring(settings)
    path = tmp_path / "identity" / "signing-key.pem"
    assert first.generated and path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(settings).kid == first.kid
    assert [p.name for p in path.parent.iterdir()] == ["signing-key.pem"]  # no temp files left


def test_workers_starting_together_agree_on_one_key(tmp_path):
    path = str(tmp_path / "identity" / "signing-key.pem")
    with ProcessPoolExecutor(max_workers=4) as pool:
        pems = list(pool.map(ensure_development_key, [path] * 8))
    assert len(set(pems)) == 1
    assert Path(path).read_bytes() == pems[0]


def test_configured_keys_take_precedence(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(private_key_pem(key))
    ring = load_keyring(IdentitySettings(signing_key_file=key_file, state_dir=tmp_path))
    assert not ring.generated and ring.kid == jwk_thumbprint(key.public_key())
    assert not (tmp_path / "identity").exists()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="2048"):
        load_keyring(IdentitySettings(signing_key_pem=SecretStr(private_key_pem(small).decode())))


def test_kid_is_the_rfc7638_thumbprint():
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
         "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
         "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWh"
         "AI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
    import base64

    modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")
    public = rsa.RSAPublicNumbers(65537, modulus).public_key()
    assert _b64url_uint(65537) == "AQAB"
    assert jwk_thumbprint(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_app_starts_with_a_generated_key(settings, tmp_path):
    dev = settings.model_copy(update={"signing_key_pem": None, "state_dir": tmp_path / "run"})
    async with asgi_client(create_app(dev)) as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
    assert (tmp_path / "run" / "identity" / "signing-key.pem").exists()
    assert len(jwks["keys"]) == 1


async def test_swagger_ui_and_openapi_are_served(client):
    schema = (await client.get("/docs/identity/openapi.json")).json()
    assert {"/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh",
            "/api/v1/auth/logout", "/api/v1/users/me", "/api/v1/users/me/password",
            "/.well-known/jwks.json"} <= schema["paths"].keys()
    assert (await client.get("/docs/identity/")).status_code == 200
