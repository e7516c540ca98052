"""The request middleware and the problem types, on a small FastAPI app (no database: these
are the checks every request passes before a route runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from chassis.errors import (
    PROBLEM_TYPES,
    Conflict,
    NotFound,
    Unprocessable,
    code_for_status,
    install_error_handlers,
)
from chassis.middleware import MAX_BODY_BYTES, RequestMiddleware, is_json_media_type
from fastapi import FastAPI, Request

PROBLEM = "application/problem+json"


def make_app(calls: list[Any]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestMiddleware, other_bodies={r"/upload/[0-9]+": "multipart/form-data"})
    install_error_handlers(app)

    @app.post("/things", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        body = await request.body()
        calls.append(body)
        return {"size": len(body)}

    @app.post("/upload/{n}")
    async def upload(request: Request) -> dict[str, int]:
        calls.append(await request.body())
        return {"ok": 1}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/taken")
    async def taken() -> None:
        raise Conflict("That e-mail is taken", code="email-taken")

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("No such thing")

    @app.get("/invalid")
    async def invalid() -> None:
        raise Unprocessable("Bad handle", loc=["body", "handle"])

    return app


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, list[Any]]]:
    calls: list[Any] = []
    transport = httpx.ASGITransport(app=make_app(calls))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c, calls


def problem_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{code}"
    assert body["title"] == PROBLEM_TYPES[code].title and body["status"] == status
    assert response.headers["x-request-id"]
    return body


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
    "application/merge-patch+json", "application/vnd.kanban+json;charset=UTF-8"])
async def test_json_bodies_reach_the_route(client, content_type) -> None:
    c, calls = client
    response = await c.post("/things", content=b'{"a": 1}',
                            headers={"content-type": content_type})
    assert response.status_code == 201 and calls == [b'{"a": 1}']


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/jsonx", "application/xml", "json", ""])
async def test_a_body_that_is_not_json_is_a_415_naming_json(client, content_type) -> None:
    c, calls = client
    headers = {"content-type": content_type} if content_type else {}
    response = await c.post("/things", content=b'{"a": 1}', headers=headers)
    body = problem_of(response, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]
    assert calls == []   # the route never ran


async def test_a_post_without_a_body_is_left_to_the_route(client) -> None:
    c, calls = client
    assert (await c.post("/things")).status_code == 201
    assert calls == [b""]


async def test_a_route_that_takes_another_type_takes_only_that(client) -> None:
    c, calls = client
    ok = await c.post("/upload/7", content=b"--x--",
                      headers={"content-type": "multipart/form-data; boundary=x"})
    assert ok.status_code == 200
    refused = await c.post("/upload/7", json={"a": 1})
    assert "multipart/form-data" in problem_of(refused, 415, "unsupported-media-type")["detail"]
    assert calls == [b"--x--"]


async def test_bodies_over_the_limit_are_413_declared_or_streamed(client) -> None:
    c, calls = client
    big = b"x" * (MAX_BODY_BYTES + 1)
    problem_of(await c.post("/things", content=big,
                            headers={"content-type": "application/json"}),
               413, "payload-too-large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * (MAX_BODY_BYTES // 4)

    problem_of(await c.post("/things", content=chunks(),
                            headers={"content-type": "application/json"}),
               413, "payload-too-large")
    assert calls == []


async def test_request_ids_are_echoed_or_made(client) -> None:
    c, _ = client
    mine = await c.post("/things", headers={"x-request-id": "abc-1"})
    assert mine.headers.get_list("x-request-id") == ["abc-1"]
    made = await c.post("/things")
    assert len(made.headers["x-request-id"]) == 36


async def test_a_bug_is_a_500_problem_without_a_trace(client) -> None:
    c, _ = client
    body = problem_of(await c.get("/boom"), 500, "internal-error")
    assert "a bug" not in body["detail"] and "Traceback" not in body["detail"]


async def test_domain_errors_carry_their_problem_type(client) -> None:
    c, _ = client
    assert problem_of(await c.get("/taken"), 409, "email-taken")["detail"] == \
        "That e-mail is taken"
    problem_of(await c.get("/missing"), 404, "not-found")
    body = problem_of(await c.get("/invalid"), 422, "validation-failed")
    assert body["errors"] == [{"loc": ["body", "handle"], "msg": "Bad handle"}]
    problem_of(await c.get("/no-route"), 404, "not-found")
    problem_of(await c.delete("/things"), 405, "method-not-allowed")


def test_a_code_must_belong_to_the_error_status() -> None:
    with pytest.raises(ValueError):
        Conflict("x", code="not-found")
    with pytest.raises(KeyError):
        Conflict("x", code="no-such-code")


def test_every_status_has_a_generic_code_and_codes_are_uri_safe() -> None:
    for status in (400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 429, 500, 502, 503):
        assert PROBLEM_TYPES[code_for_status(status)].status == status
    assert code_for_status(418) == "bad-request" and code_for_status(599) == "internal-error"
    assert all(code.replace("-", "").isalpha() and code.islower() for code in PROBLEM_TYPES)


def test_json_media_types() -> None:
    assert is_json_media_type("application/problem+json")
    assert not is_json_media_type("text/json")
