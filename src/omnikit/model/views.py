"""Read models: what an agent sees of a customer (the card) and their journey."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from omnikit.model._base import Model, UtcDatetime
from omnikit.model.case import Case
from omnikit.model.customer import Customer
from omnikit.model.identity import Identity
from omnikit.model.interaction import Interaction

__all__ = ["ChannelSummary", "CustomerCard", "Journey"]


class ChannelSummary(Model):
    """How often and how recently a customer used one channel."""

    channel: str
    count: int
    last_contact: UtcDatetime


class CustomerCard(Model):
    """Everything an agent needs first, on whichever channel the customer arrives."""

    customer: Customer
    identities: tuple[Identity, ...]
    recent: tuple[Interaction, ...]
    """The newest interactions across all channels, newest first."""
    open_cases: tuple[Case, ...]
    """Cases that are new, open or pending, newest first."""
    channels: tuple[ChannelSummary, ...]
    """Per channel the customer used: count and last contact, most recent first."""
    alerts: tuple[str, ...] = ()
    """Short sentences an agent must see first: post that came back, a case waiting
    on us, an unverified identity added lately."""
    as_of: UtcDatetime | None = None
    """When the card was made, by the kit's clock: what case ages count from."""

    def age(self, case: Case) -> timedelta:
        """How long ``case`` has been open, as of the card."""
        return (self.as_of or case.updated_at) - case.created_at

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-serialisable data (datetimes as ISO 8601 strings); each
        open case also carries ``age_seconds``."""
        data = self.model_dump(mode="json")
        for case, dumped in zip(self.open_cases, data["open_cases"], strict=True):
            dumped["age_seconds"] = self.age(case).total_seconds()
        return data


class Journey(Model):
    """A customer's interactions in time order, and the channels they moved through."""

    customer_id: str
    steps: tuple[Interaction, ...]
    """Every interaction, oldest first."""

    @property
    def channels(self) -> list[str]:
        """Channel ids in order, consecutive repeats collapsed."""
        path: list[str] = []
        for step in self.steps:
            if not path or path[-1] != step.channel:
                path.append(step.channel)
        return path

    @property
    def switches(self) -> list[tuple[str, str]]:
        """Each move from one channel to a different one, in order."""
        path = self.channels
        return list(pairwise(path))
