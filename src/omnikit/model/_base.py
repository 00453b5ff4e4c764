"""What every omnikit model shares: frozen, strict about unknown fields, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

import pydantic
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from omnikit.errors import ValidationError

__all__ = ["Model", "UtcDatetime"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, converted to UTC; a naive datetime fails validation."""


class Model(BaseModel):
    """Base of the domain models: immutable values that reject unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, /, **data: Any) -> None:
        """Validate ``data``; a bad value raises ``omnikit.ValidationError`` naming
        the field, the value and the rule (never a bare pydantic error)."""
        try:
            super().__init__(**data)
        except pydantic.ValidationError as error:
            raise ValidationError(describe(type(self).__name__, error)) from None

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


def describe(model: str, error: pydantic.ValidationError) -> str:
    """One sentence per problem pydantic found: ``Agent: capacity.phone: -1 …``."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "value"
        message = item["msg"].removeprefix("Value error, ")
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, ValidationError):
            problems.append(str(cause))
        elif item["type"] in ("value_error", "assertion_error"):
            problems.append(f"{where}: {message}")
        else:
            shown = repr(item["input"])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            problems.append(f"{where}: {shown} is not valid: {message}")
    return f"{model}: " + "; ".join(problems)
