"""Cursor pagination shared by every collection endpoint.

``?limit=`` defaults to 50 and is clamped to 200 (below 1 -> 422). Cursors are opaque:
base64url JSON of the last row's sort key, signed with an HMAC so a cursor the server did
not issue is refused with 422 instead of being trusted. The signature also covers the
query it belongs to (path and filters, not ``limit``): a cursor of one collection, or of the
same collection with other filters, is refused too instead of paging the wrong list.

Every listing pages by key (:func:`keyset_page`), never by offset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

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


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _python_type(column: sa.ColumnElement[Any]) -> type | None:
    try:
        kind: type = column.type.python_type
    except NotImplementedError:  # a type SQLAlchemy cannot name: take the JSON value as is
        return None
    return kind


def _key_value(raw: Any, kind: type | None) -> Any:
    """One value of a decoded cursor as the Python type of its sort column."""
    if kind is datetime:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        if moment is None or moment.tzinfo is None:
            raise ValueError("not a time with an offset")
        return moment
    if kind is uuid.UUID:
        if not isinstance(raw, str):
            raise ValueError("not an id")
        return uuid.UUID(raw)
    if kind is int and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise ValueError("not an integer")
    if kind is str and not isinstance(raw, str):
        raise ValueError("not a string")
    return raw


def _after_cursor(paging: PageParams, key: Sequence[sa.ColumnElement[Any]],
                  descending: bool) -> sa.ColumnElement[bool] | None:
    if paging.cursor is None:
        return None
    try:
        if len(paging.cursor) != len(key):
            raise ValueError("another listing's cursor")
        last = [_key_value(raw, _python_type(column))
                for raw, column in zip(paging.cursor, key, strict=True)]
    except ValueError as exc:  # signed by us, but not a cursor of this listing's shape
        raise Unprocessable("Invalid cursor", loc=["query", "cursor"]) from exc
    bound: sa.ColumnElement[bool]
    if len(key) == 1:
        bound = key[0] < last[0] if descending else key[0] > last[0]
    else:
        bound = (sa.tuple_(*key) < sa.tuple_(*last) if descending
                 else sa.tuple_(*key) > sa.tuple_(*last))
    return bound


async def keyset_page(session: AsyncSession, query: sa.Select[Any], paging: PageParams,
                      *key: sa.ColumnElement[Any],
                      descending: bool = False) -> tuple[list[sa.Row[Any]], str | None]:
    """One page of ``query``, paged by key. The rule:

    * the rows come ordered by the ``key`` columns (all ascending, or all ``descending``),
      which together identify a row (the last one is unique, or an id breaks ties);
    * a page holds the first ``paging.limit`` rows strictly after the cursor in that order;
    * the next cursor is the key of the page's last row, given only when more rows follow
      (one row more than the page is fetched to know). Cursor values are typed by their
      column (times as RFC 3339 UTC, ids as strings); one of another shape is a 422.

    ``query`` must select the key columns and have no ORDER BY or LIMIT of its own."""
    after = _after_cursor(paging, key, descending)
    if after is not None:
        query = query.where(after)
    order = [column.desc() for column in key] if descending else list(key)
    rows = list((await session.execute(query.order_by(*order)
                                      .limit(paging.limit + 1))).all())
    cursor = paging.next_cursor(
        rows, lambda row: [_cursor_value(row._mapping[column]) for column in key])
    return rows[:paging.limit], cursor
