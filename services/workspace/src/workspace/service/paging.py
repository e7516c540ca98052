"""Keyset pagination over ``(timestamp, uuid)`` sort keys, on top of ``chassis.pagination``
(which signs and decodes the cursor)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chassis.errors import Unprocessable
from chassis.pagination import PageParams


def after(params: PageParams, time_column: Any, id_column: Any) -> sa.ColumnElement[bool]:
    """``(time, id) > cursor`` for the page after the cursor, or TRUE on the first page."""
    if params.cursor is None:
        return sa.true()
    try:
        moment, ident = params.cursor
        moment = datetime.fromisoformat(moment)
        ident = uuid.UUID(ident)
        if moment.tzinfo is None:
            raise ValueError("naive time")
    except (ValueError, TypeError) as exc:
        # Signed by us but not a cursor of this collection's shape.
        raise Unprocessable("Invalid cursor", loc=["query", "cursor"]) from exc
    return sa.tuple_(time_column, id_column) > sa.tuple_(sa.literal(moment), sa.literal(ident))


def page(params: PageParams, rows: Sequence[Any], time_of: Any,
         id_of: Any) -> tuple[list[Any], str | None]:
    """The items of this page and the cursor of the next (rows were fetched limit + 1)."""
    items = list(rows[:params.limit])
    cursor = params.next_cursor(list(rows), lambda r: [time_of(r).isoformat(), str(id_of(r))])
    return items, cursor
