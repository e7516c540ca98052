"""Cursor pagination shared by every collection endpoint.

``?limit=`` defaults to 50 and is clamped to 200 (below 1 -> 422). Cursors are opaque:
base64url JSON of the last row's sort key, signed with an HMAC so a cursor the server did
not issue is refused with 422 instead of being trusted. The signature also covers the
query it belongs to (path and filters, not ``limit``): a cursor of one collection, or of the
same collection with other filters, is refused too instead of paging the wrong list."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from chassis.errors import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_SIGNATURE_BYTES = 12

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def _signature(secret: bytes, scope: str, payload: bytes) -> bytes:
    message = scope.encode() + b"\n" + payload
    return hmac.new(secret, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def encode_cursor(key: list[Any], secret: str, scope: str = "") -> str:
    """Opaque cursor for the sort key ``key`` (JSON-serialisable values), valid only for
    ``scope`` (see :func:`query_scope`)."""
    payload = json.dumps(key, separators=(",", ":"), default=str).encode()
    raw = _signature(secret.encode(), scope, payload) + payload
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, secret: str, scope: str = "") -> list[Any]:
    """The sort key inside a cursor this server issued for ``scope``; 422 for anything
    else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, _signature(secret.encode(), scope, payload)):
            raise ValueError("bad signature")
        key = json.loads(payload)
        if not isinstance(key, list):
            raise ValueError("bad cursor")
        return key
    except ValueError as exc:  # binascii.Error and JSONDecodeError are ValueErrors
        raise Unprocessable("Invalid cursor", loc=["query", "cursor"]) from exc


def query_scope(request: Request) -> str:
    """What a cursor is bound to: the path and the filters (every query parameter but
    ``cursor`` and ``limit``, in a fixed order)."""
    filters = sorted((name, value) for name, value in request.query_params.multi_items()
                     if name not in ("cursor", "limit"))
    return json.dumps([request.url.path, filters], separators=(",", ":"))


class PageParams(BaseModel):
    limit: int
    cursor: list[Any] | None
    secret: str
    scope: str = ""

    def next_cursor(self, rows: list[Any], key_of: Any) -> str | None:
        """Cursor after ``rows`` when a full page was returned (callers fetch limit+1)."""
        if len(rows) <= self.limit:
            return None
        return encode_cursor(key_of(rows[self.limit - 1]), self.secret, self.scope)


def page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="Page size (max 200; larger is clamped)")]
    = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="Opaque cursor from next_cursor")] = None,
) -> PageParams:
    secret: str = request.app.state.settings.cursor_secret
    scope = query_scope(request)
    return PageParams(limit=min(limit, MAX_LIMIT),
                      cursor=decode_cursor(cursor, secret, scope) if cursor else None,
                      secret=secret, scope=scope)


Paging = Annotated[PageParams, Depends(page_params)]
