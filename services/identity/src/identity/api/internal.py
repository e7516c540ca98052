"""Service-to-service reads (``/internal/v1``): never routed by the gateway, still behind a
valid access token. Workspace uses the lookup to add a member whose ``user.registered``
event has not reached its directory yet (read-through, see docs/adr/0002)."""

from __future__ import annotations

import sqlalchemy as sa
from chassis.errors import NotFound
from fastapi import APIRouter
from pydantic import EmailStr

from identity.deps import CurrentUserId, DbSession
from identity.models import users
from identity.schemas import User

router = APIRouter(prefix="/internal/v1/users", tags=["internal"], include_in_schema=False)


@router.get("/lookup", response_model=User)
async def lookup_by_email(email: EmailStr, _: CurrentUserId, session: DbSession,
                          ) -> User:
    row = (await session.execute(
        sa.select(users).where(users.c.email == email.lower()))).first()
    if row is None:
        raise NotFound("No user with that e-mail")
    return User.model_validate(row)


__all__ = ["router"]
