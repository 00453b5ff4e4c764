"""The channel registry: which channels exist and what each can do.

Every kit starts with the built-in channels below; ``kit.channels.register`` adds
more (a kiosk, a partner portal). The registry lives in the kit, not in the store:
register custom channels when the application starts, in every process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from omnikit.errors import ConflictError, UnknownChannelError, ValidationError
from omnikit.model import Channel, IdentityKind

__all__ = ["BUILTIN_CHANNELS", "ChannelRegistry"]

_P, _E, _H, _X, _A = (
    IdentityKind.PHONE,
    IdentityKind.EMAIL,
    IdentityKind.HANDLE,
    IdentityKind.EXTERNAL,
    IdentityKind.POSTAL,
)

BUILTIN_CHANNELS: tuple[Channel, ...] = (
    Channel(id="phone", name="Phone", identity_kind=_P, realtime=True, outbound=True),
    Channel(
        id="email", name="E-mail", identity_kind=_E, realtime=False, outbound=True, subject=True
    ),
    # 1,600 characters: the most a provider joins from concatenated segments.
    Channel(id="sms", name="SMS", identity_kind=_P, realtime=False, outbound=True, text_limit=1600),
    Channel(
        id="whatsapp",
        name="WhatsApp",
        identity_kind=_P,
        realtime=False,
        outbound=True,
        text_limit=4096,
    ),
    Channel(id="webchat", name="Web chat", identity_kind=_X, realtime=True, outbound=False),
    Channel(id="videochat", name="Video chat", identity_kind=_E, realtime=True, outbound=True),
    Channel(
        id="messenger",
        name="Messenger",
        identity_kind=_H,
        realtime=False,
        outbound=True,
        text_limit=2000,
    ),
    Channel(
        id="instagram",
        name="Instagram",
        identity_kind=_H,
        realtime=False,
        outbound=True,
        text_limit=1000,
    ),
    Channel(
        id="telegram",
        name="Telegram",
        identity_kind=_H,
        realtime=False,
        outbound=True,
        text_limit=4096,
    ),
    Channel(
        id="twitter",
        name="X (Twitter)",
        identity_kind=_H,
        realtime=False,
        outbound=True,
        text_limit=280,
    ),
    Channel(id="webshop", name="Web shop", identity_kind=_X, realtime=False, outbound=False),
    Channel(id="app", name="App", identity_kind=_X, realtime=False, outbound=True),
    Channel(id="store", name="Store", identity_kind=None, realtime=True, outbound=False),
    Channel(id="pickup", name="Pickup point", identity_kind=None, realtime=True, outbound=False),
    Channel(id="post", name="Post", identity_kind=_A, realtime=False, outbound=True),
)
"""The channels every kit knows from the start."""


class ChannelRegistry:
    """The channels one kit knows, by id. Iterating yields them in registration order."""

    def __init__(self, channels: Iterable[Channel] = BUILTIN_CHANNELS) -> None:
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel, *, replace: bool = False) -> Channel:
        """Add ``channel``; an id already registered raises ``ConflictError``.

        Pass ``replace=True`` to change the description of a registered channel.
        """
        if not isinstance(channel, Channel):
            raise ValidationError(f"register() takes a Channel, not {type(channel).__name__}")
        if channel.id in self._channels and not replace:
            raise ConflictError(
                f"channel {channel.id!r} is already registered; pass replace=True to change it"
            )
        self._channels[channel.id] = channel
        return channel

    def get(self, channel_id: str) -> Channel:
        """The channel with this id; an unknown id raises ``UnknownChannelError``."""
        channel = self._channels.get(channel_id) if isinstance(channel_id, str) else None
        if channel is None:
            known = ", ".join(self._channels)
            raise UnknownChannelError(f"unknown channel {channel_id!r}; known channels: {known}")
        return channel

    def __contains__(self, channel_id: object) -> bool:
        return isinstance(channel_id, str) and channel_id in self._channels

    def __iter__(self) -> Iterator[Channel]:
        return iter(list(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)
