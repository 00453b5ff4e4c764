"""Time helpers: every datetime in omnikit is timezone-aware UTC.

The store keeps instants as integer microseconds since the Unix epoch, which sort,
compare and index the same way on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from omnikit.errors import ValidationError

__all__ = ["Clock", "from_micros", "require_utc", "system_clock", "to_micros"]

Clock = Callable[[], datetime]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


def require_utc(value: object, what: str) -> datetime:
    """Return ``value`` as a UTC datetime; a naive datetime or a non-datetime raises.

    A naive datetime is an error rather than a guess: the caller knows which zone it
    meant and omnikit does not.
    """
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{what} {value.isoformat()!r} is a naive datetime; pass a timezone-aware one "
            "(for example datetime.now(UTC))"
        )
    return value.astimezone(UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The UTC datetime of a microsecond timestamp made by :func:`to_micros`."""
    return _EPOCH + timedelta(microseconds=value)
