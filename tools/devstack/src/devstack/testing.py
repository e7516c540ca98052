"""Helpers for black-box tests through the gateway (importable from any test module)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx


@dataclass
class User:
    id: str
    email: str
    password: str
    full_name: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register_and_login(api: httpx.Client, name: str = "user",
                       password: str = "correct horse battery") -> User:
    email = unique_email(name)
    registered = api.post("/api/v1/auth/register",
                          json={"email": email, "password": password, "full_name": name})
    assert registered.status_code == 201, registered.text
    login = api.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    tokens = login.json()
    return User(id=registered.json()["id"], email=email, password=password, full_name=name,
                access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])


def assert_problem(response: httpx.Response, status: int) -> dict:
    """The response is an RFC 9457 problem+json with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), \
        response.headers
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    return body
