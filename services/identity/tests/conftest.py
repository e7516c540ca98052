"""Identity tests run against real PostgreSQL and Redis (devstack fixtures), no mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from devstack.pytest_plugin import asgi_client, migrated_database
from identity.config import IdentitySettings
from identity.keys import private_key_pem
from identity.main import create_app
from pydantic import SecretStr

from services.identity.tests.identity_helpers import LOW_COST, PASSWORD, unique_email

database_url, db = migrated_database("identity")


@pytest.fixture
def settings(database_url: str, redis_url: str, signing_key, tmp_path) -> IdentitySettings:
    return IdentitySettings(database_url=database_url, redis_url=redis_url,
                            signing_key_pem=SecretStr(private_key_pem(signing_key).decode()),
                            state_dir=tmp_path, **LOW_COST)


@pytest.fixture
def make_client() -> Callable[[IdentitySettings], Any]:
    """``async with make_client(settings) as client``: an app built from other settings."""
    return lambda settings: asgi_client(create_app(settings))


@pytest.fixture
async def client(settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(settings)) as http:
        yield http


@pytest.fixture
def register(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict]]:
    async def _register(email: str | None = None, password: str = PASSWORD,
                        full_name: str = "Ada Lovelace") -> dict:
        response = await client.post("/api/v1/auth/register", json={
            "email": email or unique_email(), "password": password, "full_name": full_name})
        assert response.status_code == 201, response.text
        return response.json()
    return _register


@pytest.fixture
def login(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict]]:
    async def _login(email: str, password: str = PASSWORD) -> dict:
        response = await client.post("/api/v1/auth/login",
                                     json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()
    return _login


@pytest.fixture
def signed_in(register, login) -> Callable[..., Awaitable[tuple[dict, dict]]]:
    """Register a fresh user and log in: (user, token pair)."""
    async def _signed_in(**kwargs: Any) -> tuple[dict, dict]:
        user = await register(**kwargs)
        return user, await login(user["email"], kwargs.get("password", PASSWORD))
    return _signed_in


@pytest.fixture
def outbox_rows(db: sa.Engine) -> Callable[[str, str], list[dict]]:
    """The outbox rows of one event type whose payload has ``user_id``."""
    def _rows(event_type: str, user_id: str) -> list[dict]:
        with db.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT stream, envelope FROM identity.outbox "
                "WHERE envelope->>'type' = :type AND envelope->'data'->>'user_id' = :user_id "
                "ORDER BY id"), {"type": event_type, "user_id": user_id}).mappings().all()
        return [dict(row) for row in rows]
    return _rows
