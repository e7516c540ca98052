"""Plain helpers of the identity tests, a module of the ``services.identity.tests`` package::

    from services.identity.tests.identity_helpers import ...
"""

from __future__ import annotations

import uuid
from typing import TypedDict

from devstack.testing import assert_problem as assert_problem  # the tests import it here

PASSWORD = "correct horse battery"


class Argon2Cost(TypedDict):
    """The Argon2id settings of :class:`identity.config.IdentitySettings`."""

    argon2_time_cost: int
    argon2_memory_cost: int
    argon2_parallelism: int


# Cheap Argon2id for speed; production refuses such parameters.
LOW_COST: Argon2Cost = {"argon2_time_cost": 1, "argon2_memory_cost": 1024,
                        "argon2_parallelism": 1}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def bearer(tokens: dict | str) -> dict[str, str]:
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}


