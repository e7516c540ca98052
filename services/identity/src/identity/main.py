"""The identity API: ``python -m chassis.serve identity --role api``."""

from __future__ import annotations

from collections.abc import Callable

from chassis.auth import TokenVerifier
from chassis.http import create_service_app
from chassis.logging import configure_logging
from chassis.relay import OutboxRelay
from chassis.worker import Worker
from fastapi import FastAPI

from identity.api import auth, internal, jwks, users
from identity.config import IdentitySettings
from identity.keys import load_keyring
from identity.service.passwords import Passwords
from identity.service.ratelimit import LoginLimiter
from identity.service.tokens import TokenIssuer

DESCRIPTION = ("Users, passwords and sessions: registration, login (RS256 access token + "
               "rotating refresh token), profile, password change, and the JWKS the other "
               "services verify access tokens with.")


# The service's worker kinds (roles of ``python -m chassis.serve``), each built in the process
# that runs it; /health/ready reports their heartbeats.
WORKERS: dict[str, Callable[[], Worker]] = {
    "relay": lambda: OutboxRelay.for_service("identity"),
}


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    configure_logging("identity", settings.log_level)  # before keys: key generation logs
    keyring = load_keyring(settings)
    # Identity verifies its own tokens with its own keys: no HTTP call to itself.
    verifier = TokenVerifier(keys=keyring.public_keys(), issuer=settings.jwt_issuer,
                             audience=settings.jwt_audience)

    async def on_startup(app: FastAPI) -> None:
        app.state.login_limiter = LoginLimiter.from_settings(app.state.redis, settings)

    app = create_service_app(service="identity", settings=settings, workers=tuple(WORKERS),
                             routers=[auth.router, users.router, jwks.router, internal.router],
                             title="Identity",
                             description=DESCRIPTION, token_verifier=verifier,
                             on_startup=on_startup)
    app.state.keyring = keyring
    app.state.token_issuer = TokenIssuer.from_settings(settings, keyring)
    app.state.passwords = Passwords.from_settings(settings)
    return app
