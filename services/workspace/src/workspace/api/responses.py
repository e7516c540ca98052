"""OpenAPI documentation of the problem+json answers the routers share."""

from __future__ import annotations

from typing import Any

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def problems(**codes: str) -> dict[int | str, dict[str, Any]]:
    """``problems(r404="...", r409="...")`` -> FastAPI ``responses`` (401 always included)."""
    out: dict[int | str, dict[str, Any]] = {
        401: {"description": "Missing or invalid access token", **PROBLEM}}
    for key, description in codes.items():
        out[int(key.removeprefix("r"))] = {"description": description, **PROBLEM}
    return out
