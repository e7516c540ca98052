"""/.well-known/jwks.json: the public keys access tokens are verified with."""

from __future__ import annotations

from fastapi import APIRouter, Response

from identity.deps import Keys
from identity.schemas import Jwks

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(keys: Keys, response: Response) -> dict[str, list[dict[str, str]]]:
    # Verifiers refetch on an unknown kid anyway; caching only saves round trips.
    response.headers["Cache-Control"] = "public, max-age=300"
    return keys.jwks()
