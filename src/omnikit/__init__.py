"""omnikit: one customer, one timeline, one case, on every channel.

Everything public is importable from here::

    from omnikit import Omnikit, CaseStatus

    kit = Omnikit("sqlite:///:memory:", default_region="NL")
    jan = kit.customers.identify(email="jan@example.nl", phone="020 123 4567")
    kit.record(customer=jan.id, channel="phone", direction="inbound", kind="call")
"""

from omnikit.cases import Cases
from omnikit.channels import BUILTIN_CHANNELS, ChannelRegistry
from omnikit.customers import Customers
from omnikit.errors import (
    AmbiguousIdentityError,
    ConflictError,
    InvalidIdentityError,
    InvalidTransitionError,
    NotFoundError,
    OmnikitError,
    StoreError,
    UnknownChannelError,
    ValidationError,
)
from omnikit.events import Events
from omnikit.identity import (
    normalize_address,
    normalize_email,
    normalize_external_id,
    normalize_handle,
    normalize_phone,
)
from omnikit.kit import Omnikit, RecordData
from omnikit.model import (
    EVENT_TYPES,
    TRANSITIONS,
    Agent,
    Attachment,
    BusinessHours,
    CallerMatch,
    Case,
    CaseEvent,
    CaseSla,
    CaseStatus,
    Channel,
    ChannelSummary,
    Customer,
    CustomerCard,
    CustomerEvent,
    DeliveryStatus,
    Direction,
    Event,
    HolidayCalendar,
    Identity,
    IdentityKind,
    Interaction,
    Journey,
    Merge,
    MergeMoves,
    PostalAddress,
    Presence,
    Priority,
    Queue,
    QueueEntry,
    RoutingDecision,
    SlaPolicy,
    SlaTarget,
    Work,
)
from omnikit.routing import Routing

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_CHANNELS",
    "EVENT_TYPES",
    "TRANSITIONS",
    "Agent",
    "AmbiguousIdentityError",
    "Attachment",
    "BusinessHours",
    "CallerMatch",
    "Case",
    "CaseEvent",
    "CaseSla",
    "CaseStatus",
    "Cases",
    "Channel",
    "ChannelRegistry",
    "ChannelSummary",
    "ConflictError",
    "Customer",
    "CustomerCard",
    "CustomerEvent",
    "Customers",
    "DeliveryStatus",
    "Direction",
    "Event",
    "Events",
    "HolidayCalendar",
    "Identity",
    "IdentityKind",
    "Interaction",
    "InvalidIdentityError",
    "InvalidTransitionError",
    "Journey",
    "Merge",
    "MergeMoves",
    "NotFoundError",
    "Omnikit",
    "OmnikitError",
    "PostalAddress",
    "Presence",
    "Priority",
    "Queue",
    "QueueEntry",
    "RecordData",
    "Routing",
    "RoutingDecision",
    "SlaPolicy",
    "SlaTarget",
    "StoreError",
    "UnknownChannelError",
    "ValidationError",
    "Work",
    "__version__",
    "normalize_address",
    "normalize_email",
    "normalize_external_id",
    "normalize_handle",
    "normalize_phone",
]
