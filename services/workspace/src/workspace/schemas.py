"""Request and response bodies: the public API contract. Requests forbid unknown
fields (422); names are stripped, so blank or whitespace-only names are too short."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from chassis.validation import single_line
from contracts.schema_types import UtcDateTime
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail on insert.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 AfterValidator(single_line)]
Description = Annotated[str, Field(max_length=10_000), AfterValidator(_no_nul)]

TeamRole = Literal["owner", "admin", "member"]
# Roles one can be given when added to a team (ownership only moves by transfer).
NewTeamMemberRole = Literal["admin", "member"]
ProjectRole = Literal["admin", "editor", "viewer"]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamCreate(RequestBody):
    name: Name


class TeamUpdate(RequestBody):
    name: Name


class TeamMemberCreate(RequestBody):
    email: EmailStr
    role: NewTeamMemberRole = Field(description="admin or member")


class TeamMemberUpdate(RequestBody):
    role: TeamRole = Field(description="`owner` (owner only) transfers ownership; the old "
                                       "owner becomes admin")


class ProjectCreate(RequestBody):
    team_id: uuid.UUID
    name: Name
    description: Description = ""


class ProjectUpdate(RequestBody):
    # Omitted fields stay as they are; null is refused (422): the default below is never
    # validated, an explicit null is.
    name: Name = Field(default=None, description="Omit to keep")  # type: ignore[assignment]
    description: Description = Field(  # type: ignore[assignment]
        default=None, description="Omit to keep; \"\" clears it")


class ProjectMemberCreate(RequestBody):
    user_id: uuid.UUID = Field(description="Must be a member of the project's team")
    role: ProjectRole


class ProjectMemberUpdate(RequestBody):
    role: ProjectRole


class Team(BaseModel):
    id: uuid.UUID
    name: str
    created_at: UtcDateTime
    my_role: TeamRole


class Member(BaseModel):
    user_id: uuid.UUID
    email: str
    full_name: str
    role: TeamRole
    joined_at: UtcDateTime


class Project(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    description: str
    created_at: UtcDateTime
    my_role: ProjectRole


class ProjectMember(BaseModel):
    user_id: uuid.UUID
    email: str
    full_name: str
    role: ProjectRole
    joined_at: UtcDateTime = Field(description="For an implicit admin: when the team role "
                                               "made them one (or the project's creation)")
    implicit: bool = Field(description="True for the team's owner and admins, who are "
                                       "admins of every project of the team")
