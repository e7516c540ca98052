"""Request and response bodies. Requests forbid unknown fields (422)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from chassis.validation import single_line
from contracts.schema_types import UtcDateTime
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)

# Surrounding whitespace is dropped, so a blank or whitespace-only name is too short.
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                     AfterValidator(single_line)]
NewPassword = Annotated[str, Field(min_length=8, max_length=128)]
# A password being checked (not set): no policy, only a bound on the hashing work.
GivenPassword = Annotated[str, Field(min_length=1, max_length=1024)]
# Generous: anything token-like (an access token sent by mistake, too) is looked up and
# refused with 401; only absurd sizes are a 422.
OpaqueToken = Annotated[str, Field(min_length=1, max_length=8192)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(Request):
    email: EmailStr
    password: NewPassword
    full_name: FullName


class LoginRequest(Request):
    email: EmailStr
    password: GivenPassword


class RefreshRequest(Request):
    refresh_token: OpaqueToken


class LogoutRequest(Request):
    refresh_token: OpaqueToken


class UpdateProfileRequest(Request):
    full_name: FullName


class ChangePasswordRequest(Request):
    current_password: GivenPassword
    new_password: NewPassword


class User(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    created_at: UtcDateTime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Lifetime of the access token in seconds")


class Jwk(BaseModel):
    kty: Literal["RSA"]
    use: Literal["sig"]
    alg: Literal["RS256"]
    kid: str
    n: str
    e: str


class Jwks(BaseModel):
    keys: list[Jwk]
