"""Routing: agents, queues, service-level policies and the decisions that use them."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import Field, JsonValue, field_serializer, field_validator, model_validator

from omnikit import _validate
from omnikit.model._base import Model, UtcDatetime
from omnikit.model.case import Priority
from omnikit.model.hours import BusinessHours

__all__ = ["Agent", "Presence", "Queue", "QueueEntry", "RoutingDecision", "SlaPolicy", "Work"]

_CHANNEL = r"^[a-z][a-z0-9_-]{0,31}$"


class Presence(StrEnum):
    """Whether an agent takes new work."""

    AVAILABLE = "available"
    AWAY = "away"
    """Logged in but not taking new work (a break, a meeting)."""
    OFFLINE = "offline"


def _name(value: str, what: str) -> str:
    if value != value.strip() or not value.isprintable():
        raise ValueError(f"{what} {value!r} must be printable without surrounding spaces")
    return value


def _words(value: object, what: str) -> tuple[str, ...]:
    return tuple(sorted(_validate.tags(value, what)))


def _languages(value: object) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else _validate.tags_like(value, "languages")
    return tuple(sorted({_validate.language(item) or "" for item in items} - {""}))


class Agent(Model):
    """A person who takes contacts: what they can do and how much at once.

    ``Agent(id="ann", skills={"returns"}, languages={"nl", "en"},
    capacity={"phone": 1, "webchat": 3, "email": 10})`` takes one call, three chats
    and ten e-mails at a time. The channels an agent takes are those with a capacity
    above zero.
    """

    id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=500)
    skills: frozenset[str] = frozenset()
    """Lower-case words (``returns``, ``billing``); a queue may require some."""
    languages: frozenset[str] = frozenset()
    """Language tags the agent speaks; none listed means any."""
    capacity: dict[str, int] = Field(default_factory=dict)
    """Per channel, how many contacts the agent handles at once (0: none)."""
    presence: Presence = Presence.AVAILABLE

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _name(value, "agent id")

    @field_validator("skills", mode="before")
    @classmethod
    def _skills(cls, value: object) -> frozenset[str]:
        return frozenset(_words(value, "skill"))

    @field_validator("languages", mode="before")
    @classmethod
    def _langs(cls, value: object) -> frozenset[str]:
        return frozenset(_languages(value))

    @field_serializer("skills", "languages")
    def _sorted(self, value: frozenset[str]) -> list[str]:
        return sorted(value)

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, value: dict[str, int]) -> dict[str, int]:
        for channel, count in value.items():
            _validate.channel_id(channel)
            if count < 0:
                raise ValueError(f"capacity {count} for channel {channel!r} is below zero")
        return dict(sorted(value.items()))

    @property
    def channels(self) -> frozenset[str]:
        """The channels the agent takes contacts on."""
        return frozenset(channel for channel, count in self.capacity.items() if count > 0)


class SlaPolicy(Model):
    """How soon a case must be answered and resolved, in business time.

    ``SlaPolicy(first_response=timedelta(hours=4), resolution=timedelta(days=2))``;
    a target left ``None`` is not tracked. With ``pause_when_pending`` the clock stops
    while the case is pending on the customer.
    """

    first_response: timedelta | None = None
    next_response: timedelta | None = None
    resolution: timedelta | None = None
    pause_when_pending: bool = False

    @model_validator(mode="after")
    def _positive(self) -> SlaPolicy:
        for name in ("first_response", "next_response", "resolution"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"{name} {value} must be longer than zero")
        return self


class Queue(Model):
    """A line of work with rules saying which contacts join it.

    A contact matches a queue when every rule given matches: its channel is one of
    ``channels``, the customer's language one of ``languages``, one of its purpose
    tags is in ``purposes``, and each of ``attributes`` equals the customer's
    attribute of that name. Rules left empty match anything, so a queue without
    rules takes every contact. Queues are tried in ``order`` (then id); the first that
    matches takes the contact. Agents working it need all of ``skills``.
    """

    id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=500)
    order: int = 0
    channels: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    skills: tuple[str, ...] = ()
    hours: BusinessHours | None = None
    """When the queue is staffed; outside these hours contacts wait in the queue.
    ``None``: always. Service levels count these hours."""
    sla: dict[Priority, SlaPolicy] = Field(default_factory=dict)
    """The service-level policy per case priority; priorities left out have none."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _name(value, "queue id")

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value: object) -> tuple[str, ...]:
        items = (value,) if isinstance(value, str) else _validate.tags_like(value, "channels")
        return tuple(sorted({_validate.channel_id(item) for item in items}))

    @field_validator("languages", mode="before")
    @classmethod
    def _langs(cls, value: object) -> tuple[str, ...]:
        return _languages(value)

    @field_validator("purposes", mode="before")
    @classmethod
    def _purposes(cls, value: object) -> tuple[str, ...]:
        return _words(value, "purpose")

    @field_validator("skills", mode="before")
    @classmethod
    def _skills(cls, value: object) -> tuple[str, ...]:
        return _words(value, "skill")

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        return _validate.json_object(value, "attributes")


class RoutingDecision(Model):
    """Where ``kit.route`` sent a case or an interaction, and why, in words.

    ``outcome`` is ``"assigned"`` (``agent`` has it, and ``queue`` says through which
    queue, if any), ``"queued"`` (it waits in ``queue`` at ``position``, 1 being next)
    or ``"unrouted"`` (no queue takes it). ``rule`` names the rule that decided and
    ``reason`` starts with it; ``passed_over`` says why the alternatives were not
    taken.
    """

    outcome: Literal["assigned", "queued", "unrouted"]
    agent: str | None = None
    queue: str | None = None
    position: int | None = None
    rule: str
    """``owner``, ``previous_agent``, ``least_loaded``, ``queue_closed``,
    ``no_agent_free`` or ``no_queue_matched``."""
    reason: str
    passed_over: tuple[str, ...] = ()
    channel: str
    case_id: str | None = None
    interaction_id: str | None = None
    at: UtcDatetime


class Work(Model):
    """A contact an agent is handling now; it counts against their capacity."""

    id: str
    agent_id: str
    channel: str
    case_id: str | None = None
    interaction_id: str | None = None
    started_at: UtcDatetime


class QueueEntry(Model):
    """A case or interaction waiting in a queue."""

    id: str
    queue_id: str
    channel: str
    case_id: str | None = None
    interaction_id: str | None = None
    rank: int
    """Higher goes first: the case priority (urgent 3 … low 0)."""
    enqueued_at: UtcDatetime
