"""/api/v1/users/me: the caller's own account (Bearer access token required)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from identity.deps import CurrentUserId, DbSession, PasswordHasher
from identity.schemas import ChangePasswordRequest, UpdateProfileRequest, User
from identity.service import users

router = APIRouter(prefix="/api/v1/users", tags=["users"],
                   responses={401: {"description": "Missing or invalid access token"}})


@router.get("/me", response_model=User)
async def me(user_id: CurrentUserId, session: DbSession) -> User:
    return User.model_validate(await users.get_user(session, user_id))


@router.patch("/me", response_model=User)
async def update_me(body: UpdateProfileRequest, user_id: CurrentUserId,
                    session: DbSession) -> User:
    row = await users.update_profile(session, user_id, full_name=body.full_name)
    return User.model_validate(row)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             responses={422: {"description": "Invalid body or wrong current password"}})
async def change_password(body: ChangePasswordRequest, user_id: CurrentUserId,
                          session: DbSession, passwords: PasswordHasher) -> Response:
    await users.change_password(session, passwords, user_id,
                                current_password=body.current_password,
                                new_password=body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
