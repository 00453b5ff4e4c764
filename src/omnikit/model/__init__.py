"""The domain model: plain, immutable pydantic values with no I/O."""

from omnikit.model.case import TRANSITIONS, Case, CaseEvent, CaseStatus, Priority
from omnikit.model.channel import Channel
from omnikit.model.customer import Customer
from omnikit.model.identity import Identity, IdentityKind, PostalAddress
from omnikit.model.interaction import Attachment, DeliveryStatus, Direction, Interaction
from omnikit.model.recognition import CallerMatch, CustomerEvent, Merge, MergeMoves
from omnikit.model.views import ChannelSummary, CustomerCard, Journey

__all__ = [
    "TRANSITIONS",
    "Attachment",
    "CallerMatch",
    "Case",
    "CaseEvent",
    "CaseStatus",
    "Channel",
    "ChannelSummary",
    "Customer",
    "CustomerCard",
    "CustomerEvent",
    "DeliveryStatus",
    "Direction",
    "Identity",
    "IdentityKind",
    "Interaction",
    "Journey",
    "Merge",
    "MergeMoves",
    "PostalAddress",
    "Priority",
]
