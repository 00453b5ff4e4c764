"""What every omnikit model shares: frozen, strict about unknown fields, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

__all__ = ["Model", "UtcDatetime"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, converted to UTC; a naive datetime fails validation."""


class Model(BaseModel):
    """Base of the domain models: immutable values that reject unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
