"""/api/v1/auth: register, login, refresh, logout."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from identity.deps import ClientAddress, DbSession, Issuer, Limiter, PasswordHasher
from identity.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    User,
)
from identity.service import auth

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _pair(tokens: auth.IssuedTokens) -> TokenPair:
    return TokenPair(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                     expires_in=tokens.expires_in)


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=User,
             responses={409: {"description": "E-mail already registered"}})
async def register(body: RegisterRequest, session: DbSession,
                   passwords: PasswordHasher) -> User:
    row = await auth.register(session, passwords, email=body.email, password=body.password,
                              full_name=body.full_name)
    return User.model_validate(row)


@router.post("/login", response_model=TokenPair,
             responses={401: {"description": "Wrong e-mail or password"},
                        429: {"description": "Too many failed attempts"}})
async def login(body: LoginRequest, session: DbSession, passwords: PasswordHasher,
                issuer: Issuer, limiter: Limiter, client: ClientAddress,
                response: Response) -> TokenPair:
    tokens = await auth.login(session, passwords, issuer, limiter, email=body.email,
                              password=body.password, client=client)
    response.headers["Cache-Control"] = "no-store"
    return _pair(tokens)


@router.post("/refresh", response_model=TokenPair,
             responses={401: {"description": "Unknown, expired or revoked refresh token"}})
async def refresh(body: RefreshRequest, session: DbSession, issuer: Issuer,
                  response: Response) -> TokenPair:
    tokens = await auth.refresh(session, issuer, refresh_token=body.refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return _pair(tokens)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(body: LogoutRequest, session: DbSession) -> Response:
    await auth.logout(session, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
