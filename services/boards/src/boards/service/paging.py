"""Keyset-pagination helpers on top of :mod:`chassis.pagination`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from chassis.errors import Unprocessable
from chassis.pagination import PageParams


def cursor_key(paging: PageParams, *kinds: type) -> tuple[Any, ...] | None:
    """The decoded cursor as typed values (``str``, ``int``, ``uuid.UUID``, ``datetime``);
    422 for a cursor issued by another listing."""
    if paging.cursor is None:
        return None
    if len(paging.cursor) != len(kinds):
        raise Unprocessable("Invalid cursor", loc=["query", "cursor"])
    try:
        values: list[Any] = []
        for kind, raw in zip(kinds, paging.cursor, strict=True):
            if kind is datetime:
                values.append(datetime.fromisoformat(str(raw)))
            elif kind is uuid.UUID:
                values.append(uuid.UUID(str(raw)))
            elif kind is int:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise ValueError(raw)
                values.append(raw)
            else:
                if not isinstance(raw, str):
                    raise ValueError(raw)
                values.append(raw)
        return tuple(values)
    except (TypeError, ValueError) as exc:
        raise Unprocessable("Invalid cursor", loc=["query", "cursor"]) from exc


def created_key(row: Any) -> list[Any]:
    return [row.created_at.isoformat(), str(row.id)]


def page(rows: Sequence[Any], paging: PageParams,
         key_of: Callable[[Any], list[Any]]) -> tuple[list[Any], str | None]:
    """The page's rows (``rows`` was fetched with limit + 1) and the next cursor."""
    fetched = list(rows)
    return fetched[:paging.limit], paging.next_cursor(fetched, key_of)
