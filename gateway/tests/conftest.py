"""Fixtures for the gateway tests: real nginx processes in front of tiny stub services.

A stub is a threaded Python HTTP server: identity's stub serves a JWKS; every stub answers
``/health/ready`` and echoes any other request (method, path, headers, body size) as JSON,
recording it as a hit so tests can prove a request did or did not reach the service."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.gateway import Gateway
from devstack.infra import ScratchArea, free_port
from jwt.algorithms import RSAAlgorithm

ISSUER = "kanban-identity"
AUDIENCE = "kanban"


# -- stub services -------------------------------------------------------------------------

class StubService:
    def __init__(self, name: str, *, jwks: Callable[[], dict] | None = None,
                 port: int = 0) -> None:
        self.name = name
        self.jwks = jwks
        self.ready = True
        self.workers: dict[str, str] = {}   # worker kind -> heartbeat state, in /health/ready
        self.hits: list[dict[str, Any]] = []
        self.jwks_hits = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StubService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"   # keepalive, like a real service behind nginx

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                # Like the real services: echo the request id (the gateway must not double it).
                if request_id := self.headers.get("X-Request-ID"):
                    self.send_header("X-Request-ID", request_id)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/.well-known/jwks.json" and stub.jwks is not None:
                    stub.jwks_hits += 1
                    self._reply(200, stub.jwks())
                    return
                if self.path == "/health/ready":
                    self._reply(200 if stub.ready else 503,
                                {"status": "ready" if stub.ready else "not ready",
                                 "workers": stub.workers})
                    return
                hit = {"service": stub.name, "method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body_length": len(body)}
                stub.hits.append(hit)
                self._reply(200, hit)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


# -- signing keys and tokens ---------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def jwk(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


@dataclass
class Keys:
    """identity's signing keys (what its JWKS publishes) and a token factory."""

    current: SigningKey
    published: list[SigningKey]

    def jwks(self) -> dict:
        return {"keys": [k.jwk for k in self.published]}

    @staticmethod
    def claims(**overrides: Any) -> dict:
        now = int(time.time())
        claims = {"sub": str(uuid.uuid4()), "iss": ISSUER, "aud": AUDIENCE, "typ": "access",
                  "iat": now, "exp": now + 900, "jti": uuid.uuid4().hex}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key: SigningKey | None = None, kid: str | None = None,
              **overrides: Any) -> str:
        key = key or self.current
        return jwt.encode(self.claims(**overrides), key.private, algorithm="RS256",
                          headers={"kid": kid or key.kid})

    @staticmethod
    def forge(header: dict, claims: dict, signature: bytes | Callable[[bytes], bytes]) -> str:
        """A token assembled by hand (for algorithms PyJWT refuses to produce)."""
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        sig = signature(signing_input.encode()) if callable(signature) else signature
        return signing_input + "." + b64url(sig)

    def hs256_with_public_key(self, **overrides: Any) -> str:
        """The classic alg-confusion attack: HMAC keyed with the public key PEM."""
        return self.forge({"alg": "HS256", "typ": "JWT", "kid": self.current.kid},
                          self.claims(**overrides),
                          lambda data: hmac.new(self.current.public_pem, data,
                                                hashlib.sha256).digest())


@pytest.fixture(scope="session")
def keys() -> Keys:
    key = SigningKey("test-key-1")
    return Keys(current=key, published=[key])


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    """An RSA key identity has not published (an attacker's, or the next one after rotation)."""
    return SigningKey("attacker-key")


# -- stubs and gateways --------------------------------------------------------------------

@pytest.fixture(scope="session")
def identity(keys: Keys) -> Iterator[StubService]:
    stub = StubService("identity", jwks=keys.jwks).start()
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
def boards() -> Iterator[StubService]:
    stub = StubService("boards").start()
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
def gateway(scratch: ScratchArea, identity: StubService,
            boards: StubService) -> Iterator[Gateway]:
    """identity and boards are up; workspace and notifier are not deployed."""
    gw = Gateway(scratch.mktemp("gateway"),
                 {"identity": identity.address, "boards": boards.address},
                 auth_rate="1000r/s", auth_burst=1000, api_rate="1000r/s", api_burst=1000)
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def make_gateway(scratch: ScratchArea) -> Iterator[Callable[..., Gateway]]:
    """Extra gateways with their own settings, stopped after the test."""
    started: list[Gateway] = []

    def _make(upstreams: dict[str, str], **settings: Any) -> Gateway:
        gw = Gateway(scratch.mktemp("gateway"), upstreams, **settings)
        started.append(gw)
        return gw.start()

    yield _make
    for gw in started:
        gw.stop()


@pytest.fixture
def make_stub() -> Iterator[Callable[..., StubService]]:
    started: list[StubService] = []

    def _make(name: str, **kwargs: Any) -> StubService:
        stub = StubService(name, **kwargs).start()
        started.append(stub)
        return stub

    yield _make
    for stub in started:
        stub.stop()


@pytest.fixture
def free_tcp_port() -> int:
    return free_port()
