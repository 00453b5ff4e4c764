"""Channel adapters: the protocol, the registry, and the providers omnikit ships.

An adapter turns a provider's webhook request into ``InboundEvent`` values and an
``OutboundMessage`` into the provider's API requests. ``kit.adapters.use(name,
**settings)`` configures one, ``kit.receive(name, request)`` records what it parses.
Built in (``BUILTIN_ADAPTERS``): ``twilio`` (SMS, MMS and WhatsApp via Twilio),
``twilio_voice``, ``whatsapp`` (Cloud API), ``messenger``, ``instagram``, ``telegram``,
``email`` (RFC 5322 in, SMTP out), ``mailgun`` (inbound e-mail webhook) and
``webhook`` (a generic signed JSON webhook). Packages add more through the entry-point
group ``omnikit.adapters`` (see ``docs/adapters.md``).
"""

from omnikit.adapters.base import (
    Adapter,
    BaseAdapter,
    Capabilities,
    EventType,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    OutboundPayload,
    Response,
    Sender,
    SendResult,
    form_of,
    hmac_digest,
    json_of,
    parse_retry_after,
    signatures_match,
    split_text,
)
from omnikit.adapters.registry import (
    BUILTIN_ADAPTERS,
    ENTRY_POINT_GROUP,
    adapter_class,
    adapter_names,
)

__all__ = [
    "BUILTIN_ADAPTERS",
    "ENTRY_POINT_GROUP",
    "Adapter",
    "BaseAdapter",
    "Capabilities",
    "EventType",
    "InboundEvent",
    "InboundRequest",
    "OutboundMessage",
    "OutboundPayload",
    "Response",
    "SendResult",
    "Sender",
    "adapter_class",
    "adapter_names",
    "form_of",
    "hmac_digest",
    "json_of",
    "parse_retry_after",
    "signatures_match",
    "split_text",
]
