"""Project roles, as workspace publishes them, and their order: viewer < editor < admin."""

from __future__ import annotations

from typing import Literal

Role = Literal["viewer", "editor", "admin"]
VIEWER: Role = "viewer"
EDITOR: Role = "editor"
ADMIN: Role = "admin"
_RANK: dict[str, int] = {VIEWER: 1, EDITOR: 2, ADMIN: 3}


def known(role: object) -> str | None:
    """``role`` if it is a project role, else None (an answer from elsewhere may hold
    anything)."""
    return role if isinstance(role, str) and role in _RANK else None


def at_least(role: str | None, minimum: Role) -> bool:
    return role is not None and _RANK.get(role, 0) >= _RANK[minimum]
