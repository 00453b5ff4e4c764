"""Channels: the ways a business and its customers reach each other."""

from __future__ import annotations

from pydantic import Field

from omnikit.model._base import Model
from omnikit.model.identity import IdentityKind

__all__ = ["Channel"]


class Channel(Model):
    """A registry entry describing one channel.

    ``Channel(id="kiosk", name="Kiosk", identity_kind=None, realtime=True,
    outbound=False)`` describes an in-store kiosk; register it with
    ``kit.channels.register(...)``.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    """Lower-case id used in every call (``"whatsapp"``)."""
    name: str = Field(min_length=1)
    """Human name for screens and reports."""
    identity_kind: IdentityKind | None
    """The identity kind that addresses a customer here; ``None`` for in-person channels."""
    realtime: bool
    """True when both sides are present at once (a call, a chat, a visit)."""
    outbound: bool
    """True when the business can start a contact on this channel."""
    text_limit: int | None = Field(default=None, gt=0)
    """Most characters one message may carry; ``None`` for no channel limit."""
    subject: bool = False
    """True when messages carry a subject line (e-mail)."""
