"""Input checks every API shares: text free of control characters, and ids in paths."""

from __future__ import annotations

import re
import uuid

from chassis.errors import NotFound

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def single_line(value: str) -> str:
    """A pydantic ``AfterValidator`` for names, titles, labels and search terms: no control
    character at all (no line breaks, tabs or NUL)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def multi_line(value: str) -> str:
    """A pydantic ``AfterValidator`` for free text such as descriptions and comments: line
    breaks (LF, CR) and tabs are allowed, every other control character is refused."""
    if _CONTROL_EXCEPT_LINE_BREAKS.search(value):
        raise ValueError("must not contain control characters")
    return value


def path_id(value: str, not_found: str) -> uuid.UUID:
    """The id named in a path. Paths take ids as strings so that a malformed id answers
    404 (``not_found``), exactly like a well-formed id of nothing."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound(not_found) from exc
