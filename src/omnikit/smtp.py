"""An SMTP server that records the mail it receives (the extra ``omnikit[smtp]``).

``SmtpReceiver`` listens on one address (loopback by default) with aiosmtpd and hands
each message to the kit as if a mail relay had posted it to ``/webhooks/email``: the
raw message, signed with the e-mail adapter's secret, through ``kit.receive``. The
reply tells the sending server what to do: 250 when the message is recorded (or was
already), 451 when the store failed or anything unexpected happened (the sender keeps
the message and tries again later, and idempotency by Message-ID records it once),
554 when the message cannot be read (the sender bounces it).

Put it behind the organisation's mail server (a transport or forward to
``127.0.0.1:8025``), not on the open internet: it does no spam filtering, TLS or
authentication of its own.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from omnikit.adapters.base import InboundRequest
from omnikit.adapters.email import MAX_MAIL, EmailAdapter
from omnikit.errors import (
    OmnikitError,
    PayloadError,
    SignatureError,
    StoreError,
    ValidationError,
)

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    from omnikit.kit import Omnikit

__all__ = ["SmtpReceiver"]

log = logging.getLogger("omnikit.smtp")

ACCEPTED = "250 2.0.0 Message accepted"
TRY_LATER = "451 4.3.0 Message not recorded; try again later"
REJECTED = "554 5.6.0 Message rejected"


class SmtpReceiver:
    """Receive e-mail over SMTP on ``host:port`` and record it with ``kit``.

    ``adapter`` names the kit's configured ``EmailAdapter`` (it needs a ``secret``);
    messages over ``max_size`` bytes are refused (552). ``domains``, when given, are
    the only recipient domains accepted (others get 550 at RCPT TO).

    Use ``start()``/``stop()`` or ``with SmtpReceiver(kit) as receiver:``. Raises
    ``ImportError`` naming the extra when aiosmtpd is not installed,
    ``UnknownAdapterError`` for an adapter not configured and ``ValidationError`` for
    one that is not an e-mail adapter with a secret.
    """

    def __init__(
        self,
        kit: Omnikit,
        *,
        adapter: str = "email",
        host: str = "127.0.0.1",
        port: int = 8025,
        max_size: int = MAX_MAIL,
        domains: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as error:
            raise ImportError(
                "omnikit.smtp needs aiosmtpd, in the extra 'smtp': pip install 'omnikit[smtp]'"
            ) from error
        configured = kit.adapters.get(adapter)
        if not isinstance(configured, EmailAdapter):
            raise ValidationError(
                f"adapter {adapter!r} is {type(configured).__name__}, not an EmailAdapter"
            )
        if not configured.has_secret:
            raise ValidationError(f"adapter {adapter!r} has no secret to sign received mail with")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValidationError(f"port {port!r} is not a port number")
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1024:
            raise ValidationError(f"max_size {max_size!r} must be at least 1024 bytes")
        if domains is not None and (
            isinstance(domains, str) or not all(isinstance(d, str) and d for d in domains)
        ):
            raise ValidationError(f"domains {domains!r} must be a list of domain names")
        self.kit = kit
        self.adapter = adapter
        self.host = host
        self.port = port
        self.domains = None if domains is None else frozenset(d.lower() for d in domains)
        self.max_size = max_size
        self._controller_class = Controller
        self._controller: Controller | None = None

    def __repr__(self) -> str:
        return f"<SmtpReceiver {self.host}:{self.port} adapter={self.adapter!r}>"

    def start(self) -> None:
        """Start listening (in a thread of its own); ``OSError`` when the address
        cannot be bound."""
        if self._controller is None:
            # a fresh controller each time: a stopped one cannot start again
            controller = self._controller_class(
                _Handler(self),
                hostname=self.host,
                port=self.port,
                data_size_limit=self.max_size,
                enable_SMTPUTF8=True,
            )
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        """Stop listening; a message being received is not recorded (the sender
        retries it)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpReceiver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def accepts(self, address: str) -> bool:
        """Whether mail to ``address`` is taken (its domain is one of ``domains``)."""
        if self.domains is None:
            return True
        return address.rpartition("@")[2].lower() in self.domains

    def deliver(self, raw: bytes) -> str:
        """Record one raw message as ``kit.receive`` does; the SMTP reply to give.

        Runs in a worker thread: the kit is synchronous.
        """
        try:
            adapter = self.kit.adapters.get(self.adapter)
            if not isinstance(adapter, EmailAdapter) or not adapter.has_secret:
                # reconfigured since the receiver started: keep the mail queued
                log.error("%s: not an e-mail adapter with a secret", self.adapter)
                return TRY_LATER
            at = self.kit.now()
            request = InboundRequest(
                method="POST",
                url=f"smtp://{_host(self.host)}:{self.port}/",
                headers={"content-type": "message/rfc822"} | adapter.signature_headers(raw, at),
                body=raw,
                received_at=at,
            )
            self.kit.receive(self.adapter, request)
        except (PayloadError, SignatureError) as error:
            log.info("%s: message rejected (%s)", self.adapter, type(error).__name__)
            return f"{REJECTED}: {_reply_text(str(error))}"
        except StoreError:
            log.warning("%s: the store failed; the sender will retry", self.adapter)
            return TRY_LATER
        except OmnikitError as error:
            log.error("%s: message not recorded (%s)", self.adapter, type(error).__name__)
            return TRY_LATER
        except Exception:
            log.exception("%s: message not recorded", self.adapter)
            return TRY_LATER
        return ACCEPTED


class _Handler:
    """aiosmtpd's handler: the hooks it calls during an SMTP session."""

    def __init__(self, receiver: SmtpReceiver) -> None:
        self._receiver = receiver

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self._receiver.accepts(address):
            return "550 5.1.1 Recipient domain not accepted here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw: Any = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        reply: str = await asyncio.to_thread(self._receiver.deliver, bytes(raw))
        return reply


def _host(host: str) -> str:
    """``host`` as written in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _reply_text(text: str) -> str:
    """An error message fit for one SMTP reply line: printable ASCII, short."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text)
    return cleaned[:200]
