"""The customer: one person, however many channels they use."""

from __future__ import annotations

from pydantic import Field, JsonValue

from omnikit.model._base import Model, UtcDatetime
from omnikit.model.identity import Identity, IdentityKind

__all__ = ["Customer"]


class Customer(Model):
    """A person omnikit recognises, with every identity that leads to them."""

    id: str
    name: str | None = None
    language: str | None = None
    """A BCP 47 language tag (``"nl"``, ``"pl"``, ``"en-GB"``)."""
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    identities: tuple[Identity, ...] = ()
    created_at: UtcDatetime
    updated_at: UtcDatetime

    def values(self, kind: IdentityKind | str) -> list[str]:
        """The normalised values of this customer's identities of one kind."""
        wanted = IdentityKind(kind)
        return [identity.value for identity in self.identities if identity.kind is wanted]
