"""Thin routers: parse, call one service function, return a schema. Paths are public."""

from __future__ import annotations

from typing import Any

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of the problem+json answers a route may give."""
    text = {
        401: "Missing or invalid access token",
        403: "Visible, but the caller's project role is too low",
        404: "Not found, or in a project the caller cannot see",
        409: "The list is at its WIP limit",
        412: "If-Match does not match the task's current version; nothing changed",
        422: "Invalid body or query (unknown fields, bad ids or times, bad neighbours...)",
        503: "A backing service is unavailable; retry shortly",
    }
    return {code: {"description": text[code], **PROBLEM} for code in (401, *codes, 503)}
