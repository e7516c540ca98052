"""Field types the services' API schemas share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer

# Responses: RFC 3339 in UTC with a ``Z`` suffix, whatever zone the value carries.
UtcDateTime = Annotated[datetime, PlainSerializer(
    lambda value: value.astimezone(UTC).isoformat().replace("+00:00", "Z"), return_type=str)]
