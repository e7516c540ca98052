"""Workspace tests: real PostgreSQL and Redis (devstack fixtures), the app over httpx's ASGI
transport, tokens signed with a test key, identity's read-through endpoints from a stub."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from chassis.auth import TokenVerifier
from contracts.events import Envelope, parse_event
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.pytest_plugin import asgi_client, migrated_database
from workspace.config import WorkspaceSettings
from workspace.main import create_app

from services.workspace.tests.workspace_helpers import (
    AUDIENCE,
    ISSUER,
    KID,
    Api,
    IdentityStub,
    TestUser,
    World,
    sign_token,
    summary,
    unique_email,
)

database_url, db = migrated_database("workspace")


@pytest.fixture(scope="session")
def verifier(signing_key: rsa.RSAPrivateKey) -> TokenVerifier:
    return TokenVerifier(keys={KID: signing_key.public_key()}, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="session")
def identity() -> IdentityStub:
    return IdentityStub()


@pytest.fixture(scope="session")
def settings(database_url: str, redis_server: str) -> WorkspaceSettings:
    return WorkspaceSettings(database_url=database_url, redis_url=redis_server,
                             identity_url="http://identity.test")


@pytest.fixture(scope="session")
async def client(settings, verifier, identity) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, token_verifier=verifier,
                     identity_transport=httpx.ASGITransport(app=identity.app()))
    async with asgi_client(app) as http:
        yield http


@pytest.fixture(autouse=True)
def identity_up(identity: IdentityStub) -> Iterator[None]:
    identity.down = False
    yield
    identity.down = False


def _directory_insert(db: sa.Engine, user: TestUser) -> None:
    with db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO workspace.user_directory (user_id, email, full_name, as_of) "
            "VALUES (:id, :email, :name, :as_of)"),
            {"id": user.id, "email": user.email, "name": user.full_name,
             "as_of": datetime.now(UTC)})


@pytest.fixture(scope="session")
def make_user(db, signing_key, identity) -> Callable[..., TestUser]:
    """A registered user with a valid access token. ``in_directory``: already known to the
    workspace directory (its user.registered event arrived); ``in_identity``: identity's
    read-through endpoints know it."""

    def _make(name: str = "user", *, in_directory: bool = True,
              in_identity: bool = True) -> TestUser:
        user_id = uuid.uuid4()
        user = TestUser(id=user_id, email=unique_email(name),
                        full_name=f"{name.title()} {user_id.hex[:6]}",
                        token=sign_token(signing_key, user_id))
        if in_identity:
            identity.register(user)
        if in_directory:
            _directory_insert(db, user)
        return user

    return _make


@pytest.fixture(scope="session")
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


@pytest.fixture(scope="session")
def make_world(api: Api, make_user) -> Callable[[], Awaitable[World]]:
    async def _make() -> World:
        w = World()
        for name in ["owner", "admin", "member", "p_admin", "p_editor", "p_viewer", "spare",
                     "spare_viewer", "outsider"]:
            setattr(w, name, make_user(name))
        w.team = await api.create_team(w.owner, "World team")
        await api.add_member(w.team, w.owner, w.admin, "admin")
        for name in ["member", "p_admin", "p_editor", "p_viewer", "spare", "spare_viewer"]:
            await api.add_member(w.team, w.owner, w.caller(name), "member")
        w.project = await api.create_project(w.team, w.owner, "World project")
        for name, role in [("p_admin", "admin"), ("p_editor", "editor"),
                           ("p_viewer", "viewer"), ("spare_viewer", "viewer")]:
            await api.add_project_member(w.project, w.owner, w.caller(name), role)
        return w

    return _make


@pytest.fixture(scope="session")
def outbox_mark(db) -> Callable[[], int]:
    """The id of the newest outbox row (events after it belong to what follows)."""
    def _mark() -> int:
        with db.connect() as conn:
            return conn.execute(sa.text(
                "SELECT coalesce(max(id), 0) FROM workspace.outbox")).scalar_one()
    return _mark


@pytest.fixture(scope="session")
def events_since(db) -> Callable[[int], list[Envelope]]:
    """Events written to the outbox after ``mark``, in order, parsed and payload-validated
    with contracts (``parse_event(...).payload()``)."""
    def _events(mark: int) -> list[Envelope]:
        with db.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT stream, envelope FROM workspace.outbox WHERE id > :mark ORDER BY id"),
                {"mark": mark}).all()
        envelopes = []
        for stream, raw in rows:
            assert stream == "workspace.events"
            envelope = parse_event(raw)
            envelope.payload()  # raises if the payload does not match the contract
            assert envelope.producer == "workspace"
            envelopes.append(envelope)
        return envelopes
    return _events


@pytest.fixture(scope="session")
def summarize() -> Callable[[list[Envelope]], list[tuple]]:
    return summary
