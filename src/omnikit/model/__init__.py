"""The domain model: plain, immutable pydantic values with no I/O."""

from omnikit.model.case import (
    TRANSITIONS,
    Case,
    CaseEvent,
    CaseSla,
    CaseStatus,
    Priority,
    SlaTarget,
)
from omnikit.model.channel import Channel
from omnikit.model.customer import Customer
from omnikit.model.event import EVENT_TYPES, Event
from omnikit.model.hours import BusinessHours, HolidayCalendar
from omnikit.model.identity import Identity, IdentityKind, PostalAddress
from omnikit.model.interaction import Attachment, DeliveryStatus, Direction, Interaction
from omnikit.model.outbound import (
    Cap,
    ConsentRecord,
    Delivery,
    DeliveryOutcome,
    NotifyResult,
    OutboxItem,
    OutboxStatus,
    Policy,
    Preferences,
    QuietHours,
    Subscription,
)
from omnikit.model.recognition import CallerMatch, CustomerEvent, Merge, MergeMoves
from omnikit.model.routing import (
    Agent,
    Presence,
    Queue,
    QueueEntry,
    RoutingDecision,
    SlaPolicy,
    Work,
)
from omnikit.model.views import ChannelSummary, CustomerCard, Journey

__all__ = [
    "EVENT_TYPES",
    "TRANSITIONS",
    "Agent",
    "Attachment",
    "BusinessHours",
    "CallerMatch",
    "Cap",
    "Case",
    "CaseEvent",
    "CaseSla",
    "CaseStatus",
    "Channel",
    "ChannelSummary",
    "ConsentRecord",
    "Customer",
    "CustomerCard",
    "CustomerEvent",
    "Delivery",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Direction",
    "Event",
    "HolidayCalendar",
    "Identity",
    "IdentityKind",
    "Interaction",
    "Journey",
    "Merge",
    "MergeMoves",
    "NotifyResult",
    "OutboxItem",
    "OutboxStatus",
    "Policy",
    "PostalAddress",
    "Preferences",
    "Presence",
    "Priority",
    "Queue",
    "QueueEntry",
    "QuietHours",
    "RoutingDecision",
    "SlaPolicy",
    "SlaTarget",
    "Subscription",
    "Work",
]
