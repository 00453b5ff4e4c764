"""Every error omnikit raises for something a caller can cause.

The tree::

    OmnikitError
    ├── ValidationError              a value breaks a rule (also a ValueError)
    │   ├── InvalidIdentityError     a phone number, e-mail, handle, id or address
    │   ├── UnknownChannelError      a channel id that is not registered
    │   ├── TemplateError            a message template that cannot be rendered
    │   └── MessageTooLongError      a rendered text over its channel's limit
    ├── NotFoundError                no customer, case or interaction with that id
    │                                (also a LookupError)
    ├── ConflictError                the request contradicts what is stored
    │   └── AmbiguousIdentityError   identifiers that belong to different customers
    ├── InvalidTransitionError       a case status change the lifecycle forbids
    ├── StoreError                   the database failed or cannot be used
    ├── MissingDependencyError       an optional library a call needs is not
    │                                installed (also an ImportError)
    └── AdapterError                 a channel adapter refused a request or a send
        ├── SignatureError           a webhook's signature is missing, forged or stale
        ├── PayloadError             a webhook body that cannot be read (also a
        │                            ValidationError)
        ├── UnknownAdapterError      no adapter by that name (also a NotFoundError)
        └── SendError                the provider did not accept an outbound message

Driver errors (``sqlite3``, ``psycopg``) and pydantic errors are translated at the
seam; none of them reaches a caller of the facade. Messages name the offending value
and the rule it broke, so that a log line alone explains the failure.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AmbiguousIdentityError",
    "ConflictError",
    "InvalidIdentityError",
    "InvalidTransitionError",
    "MessageTooLongError",
    "MissingDependencyError",
    "NotFoundError",
    "OmnikitError",
    "PayloadError",
    "SendError",
    "SignatureError",
    "StoreError",
    "TemplateError",
    "UnknownAdapterError",
    "UnknownChannelError",
    "ValidationError",
]


class OmnikitError(Exception):
    """Base class of every error omnikit raises for something a caller can cause."""


class ValidationError(OmnikitError, ValueError):
    """A value given to omnikit breaks a rule (too long, wrong type, naive datetime)."""


class InvalidIdentityError(ValidationError):
    """A phone number, e-mail address, handle, external id or address cannot be used."""


class UnknownChannelError(ValidationError):
    """A channel id that is not in the kit's channel registry."""


class TemplateError(ValidationError):
    """A message template that cannot be rendered: it does not parse, names a
    variable the data lacks, fails while rendering, tries to leave the sandbox, or
    renders more than 1 MiB. The message names the field, the template and the reason."""


class MessageTooLongError(ValidationError):
    """A rendered text longer than its channel's ``text_limit``; the message names the
    channel, the length and the limit."""


class MissingDependencyError(OmnikitError, ImportError):
    """An optional library a call needs is not installed; the message names the
    library and how to install it."""


class NotFoundError(OmnikitError, LookupError):
    """No customer, case or interaction has the given id."""


class ConflictError(OmnikitError):
    """The request contradicts what is already stored.

    For example an external id that is already recorded for another customer, or a
    channel id registered twice.
    """


class AmbiguousIdentityError(ConflictError):
    """The identifiers given point at more than one existing customer.

    ``customer_ids`` lists the customers involved, in a stable order.
    """

    def __init__(self, message: str, customer_ids: tuple[str, ...]) -> None:
        super().__init__(message)
        self.customer_ids = customer_ids


class InvalidTransitionError(OmnikitError):
    """A case status change that the case lifecycle does not allow."""


class StoreError(OmnikitError):
    """The store failed: it cannot be opened, is locked too long, or went away."""


class AdapterError(OmnikitError):
    """A channel adapter refused a webhook request or an outbound message."""


class SignatureError(AdapterError):
    """A webhook request whose signature is missing, wrong, or too old.

    The webhook receiver answers it with 403 and records nothing.
    """


class PayloadError(AdapterError, ValidationError):
    """A webhook body that cannot be read: wrong content type, malformed JSON or form,
    a required field missing. The webhook receiver answers it with 400."""


class UnknownAdapterError(AdapterError, NotFoundError):
    """No built-in, installed or configured adapter has the given name."""


class SendError(AdapterError):
    """The provider did not accept an outbound message.

    ``retryable`` is true when sending again later may succeed (the provider was
    unreachable, overloaded or rate-limiting); ``status`` is the provider's HTTP status
    (or SMTP reply code) when it answered. ``retry_after`` is how many seconds the
    provider asked to wait before trying again, when it said. ``undeliverable`` is
    true when the address itself cannot receive: an invalid number, an unknown
    mailbox, a recipient who blocked the sender or unsubscribed; as opposed to a
    transient failure or a configuration problem. An undeliverable error is never
    retryable.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        undeliverable: bool = False,
    ) -> None:
        super().__init__(message)
        self.undeliverable = undeliverable
        self.retryable = retryable and not undeliverable
        self.status = status
        self.retry_after = retry_after
