"""What the adapters give the outbox: ``SendError``'s ``retry_after`` and
``undeliverable``, ``Retry-After`` read from any refusal, ``OutboundMessage``'s
``html`` and ``idempotency_key``, and ``sends``/``recipient`` on every built-in adapter.

Each provider's own error codes are tested in its adapter's test module.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnikit import OutboundMessage, SendError, ValidationError
from omnikit.adapters import BaseAdapter, OutboundPayload, parse_retry_after
from omnikit.adapters.base import MAX_RETRY_AFTER
from omnikit.adapters.email import EmailAdapter, MailgunAdapter
from omnikit.adapters.meta import InstagramAdapter, MessengerAdapter, WhatsAppAdapter
from omnikit.adapters.telegram import TelegramAdapter
from omnikit.adapters.twilio import TwilioAdapter, TwilioVoiceAdapter
from omnikit.adapters.webhook import WebhookAdapter

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# Retry-After --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-5", 0.0),  # not RFC 9110, but a negative wait is no wait
        ("0000000000000030", 30.0),
        ("86401", MAX_RETRY_AFTER),
        ("9" * 40, MAX_RETRY_AFTER),
        ("Mon, 23 Nov 2026 12:01:30 GMT", 90.0),  # IMF-fixdate
        ("Monday, 23-Nov-26 12:00:10 GMT", 10.0),  # obsolete RFC 850 date
        ("Mon Nov 23 12:00:20 2026", 20.0),  # ANSI C asctime(), read as GMT
        ("Mon, 23 Nov 2026 11:00:00 GMT", 0.0),  # already past
        ("Sat, 23 Nov 2030 12:00:00 GMT", MAX_RETRY_AFTER),
        (None, None),
        ("", None),
        ("soon", None),
        ("1.5", None),
        ("12 s", None),
        ("Mon, 32 Nov 2026 12:00:00 GMT", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@given(st.text(max_size=80))
def test_retry_after_never_fails(value: str) -> None:
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER


def test_retry_after_counts_from_the_wall_clock_by_default() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None and 595 <= seconds <= 600


# SendError ----------------------------------------------------------------------------------


def test_send_error_keeps_its_old_signature_and_gains_two_fields() -> None:
    plain = SendError("twilio: refused", retryable=True, status=503)
    assert (plain.retryable, plain.status, plain.retry_after, plain.undeliverable) == (
        True,
        503,
        None,
        False,
    )
    gone = SendError("gone", retryable=True, status=400, retry_after=5, undeliverable=True)
    assert gone.undeliverable and not gone.retryable  # an address that cannot receive
    assert gone.retry_after == 5
    with pytest.raises(TypeError):
        SendError("x", True)  # type: ignore[misc]


# a third-party adapter gets Retry-After from BaseAdapter --------------------------------------


class _Line(BaseAdapter):
    """The smallest outbound adapter, as a package would write it."""

    name = "line"
    channel = "line"

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        return [OutboundPayload(method="POST", url="https://api.line.me/v2/bot/message/push")]


def _refusal(adapter: BaseAdapter, response: httpx.Response) -> SendError:
    [payload] = adapter.render(OutboundMessage(to="U4af49806", text="Hallo"))

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.content
        )

    transport = httpx.MockTransport(answer)
    with httpx.Client(transport=transport) as client, pytest.raises(SendError) as caught:
        adapter.send(payload, client)

    async def again() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await adapter.asend(payload, client)

    with pytest.raises(SendError) as async_caught:
        asyncio.run(again())
    sync, in_async = caught.value, async_caught.value
    assert str(in_async) == str(sync)
    assert (in_async.retryable, in_async.status, in_async.undeliverable) == (
        sync.retryable,
        sync.status,
        sync.undeliverable,
    )
    assert in_async.retry_after == pytest.approx(sync.retry_after, abs=1)
    return sync


def test_any_refusal_carries_the_providers_retry_after() -> None:
    adapter = _Line()
    limited = _refusal(adapter, httpx.Response(429, headers={"Retry-After": "30"}))
    assert (limited.retryable, limited.status, limited.retry_after) == (True, 429, 30.0)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    down = _refusal(adapter, httpx.Response(503, headers={"Retry-After": when}))
    assert down.retryable and down.retry_after is not None and 110 <= down.retry_after <= 120
    unreadable = _refusal(adapter, httpx.Response(503, headers={"Retry-After": "later"}))
    assert unreadable.retryable and unreadable.retry_after is None
    moved = _refusal(adapter, httpx.Response(301, headers={"Retry-After": "5"}))
    assert (moved.retryable, moved.retry_after, moved.undeliverable) == (False, 5.0, False)
    plain = _refusal(adapter, httpx.Response(400, json={"message": "bad"}))
    assert (plain.retryable, plain.retry_after, plain.undeliverable) == (False, None, False)


def test_the_default_sends_and_recipient() -> None:
    adapter = _Line()
    assert adapter.sends == ("line",)
    assert adapter.recipient("line", "U4af49806") == "U4af49806"
    with pytest.raises(ValidationError, match="cannot send on 'sms'; it sends on line"):
        adapter.recipient("sms", "+31612345678")


# OutboundMessage ----------------------------------------------------------------------------


def test_an_idempotency_key_is_printable_ascii_without_spaces() -> None:
    for key in ("outbox-1f3a", "outbox:42:email", "a", "~" * 200):
        assert OutboundMessage(to="x", idempotency_key=key).idempotency_key == key
    for key in ("", "two words", "line\nbreak", "é", "x" * 201):
        with pytest.raises(ValidationError, match="idempotency_key"):
            OutboundMessage(to="x", idempotency_key=key)


def test_html_is_a_field_of_its_own() -> None:
    message = OutboundMessage(to="jan@example.nl", text="Hallo", html="<p>Hallo</p>")
    assert (message.text, message.html) == ("Hallo", "<p>Hallo</p>")
    assert OutboundMessage(to="x").html is None


# sends and recipient on every built-in adapter ---------------------------------------------

ACCOUNT = "AC1f2e3d4c5b6a79881f2e3d4c5b6a7988"
TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SERVICE = "MG9a8b7c6d5e4f30211a2b3c4d5e6f7081"
META = {"app_secret": "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f", "verify_token": "verify-7f3a9c"}
BOT = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SENDER = "Klantenservice <service@shop.example.nl>"


@pytest.mark.parametrize(
    ("adapter", "sends"),
    [
        (TwilioAdapter(account_sid=ACCOUNT, auth_token=TOKEN), ()),
        (TwilioAdapter(account_sid=ACCOUNT, auth_token=TOKEN, from_number="OmniShop"), ("sms",)),
        (
            TwilioAdapter(account_sid=ACCOUNT, auth_token=TOKEN, whatsapp_from="+3197010253570"),
            ("whatsapp",),
        ),
        (
            TwilioAdapter(account_sid=ACCOUNT, auth_token=TOKEN, messaging_service_sid=SERVICE),
            ("sms", "whatsapp"),
        ),
        (TwilioVoiceAdapter(account_sid=ACCOUNT, auth_token=TOKEN), ()),
        (
            TwilioVoiceAdapter(account_sid=ACCOUNT, auth_token=TOKEN, from_number="+31858889000"),
            ("phone",),
        ),
        (WhatsAppAdapter(**META, access_token="EAAJ"), ()),
        (WhatsAppAdapter(**META, phone_number_id="106540352242922"), ()),
        (
            WhatsAppAdapter(**META, access_token="EAAJ", phone_number_id="106540352242922"),
            ("whatsapp",),
        ),
        (MessengerAdapter(**META), ()),
        (MessengerAdapter(**META, access_token="EAAJ"), ("messenger",)),
        (InstagramAdapter(**META, access_token="EAAJ"), ("instagram",)),
        (TelegramAdapter(secret_token="omnikit-webhook"), ()),
        (TelegramAdapter(secret_token="omnikit-webhook", bot_token=BOT), ("telegram",)),
        (EmailAdapter(), ()),
        (EmailAdapter(sender=SENDER), ("email",)),
        (MailgunAdapter(api_key="key-3ax6", domain="mg.shop.example.nl"), ()),
        (
            MailgunAdapter(api_key="key-3ax6", domain="mg.shop.example.nl", sender=SENDER),
            ("email",),
        ),
        (WebhookAdapter(secret="whsec-0123456789abcdef"), ()),
        (
            WebhookAdapter(
                secret="whsec-0123456789abcdef",
                channel="app",
                outbound_url="https://app.example.nl/push",
            ),
            ("app",),
        ),
    ],
    ids=repr,
)
def test_sends_names_the_channels_the_adapter_is_configured_for(
    adapter: Any, sends: tuple[str, ...]
) -> None:
    assert adapter.sends == sends
    for channel in {"sms", "whatsapp", "email", "phone", "telegram"} - set(sends):
        with pytest.raises(ValidationError, match=f"cannot send on {channel!r}"):
            adapter.recipient(channel, "+31612345678")


def test_twilio_addresses_whatsapp_with_its_prefix() -> None:
    twilio = TwilioAdapter(account_sid=ACCOUNT, auth_token=TOKEN, messaging_service_sid=SERVICE)
    assert twilio.recipient("whatsapp", "+31612345678") == "whatsapp:+31612345678"
    assert twilio.recipient("whatsapp", "whatsapp:+31612345678") == "whatsapp:+31612345678"
    assert twilio.recipient("sms", "+31612345678") == "+31612345678"
    assert twilio.recipient("sms", "whatsapp:+31612345678") == "+31612345678"
    # what recipient gives is what render sends
    [payload] = twilio.render(
        OutboundMessage(to=twilio.recipient("whatsapp", "+31612345678"), text="Hallo")
    )
    assert b"To=whatsapp%3A%2B31612345678" in payload.body


def test_other_adapters_take_the_stored_address_as_it_is() -> None:
    whatsapp = WhatsAppAdapter(**META, access_token="EAAJ", phone_number_id="106540352242922")
    # the stored E.164 number; render writes it without "+", as the Cloud API wants
    assert whatsapp.recipient("whatsapp", "+31612345678") == "+31612345678"
    [payload] = whatsapp.render(OutboundMessage(to="+31612345678", text="Hallo"))
    assert b'"to":"31612345678"' in payload.body
    messenger = MessengerAdapter(**META, access_token="EAAJ")
    assert messenger.recipient("messenger", "6543219876543210") == "6543219876543210"
    email = EmailAdapter(sender=SENDER)
    assert email.recipient("email", "jan@example.nl") == "jan@example.nl"


def test_telegram_writes_to_chat_ids_not_usernames() -> None:
    telegram = TelegramAdapter(secret_token="omnikit-webhook", bot_token=BOT)
    assert telegram.recipient("telegram", "412345678") == "412345678"
    assert telegram.recipient("telegram", " 412345678 ") == "412345678"
    assert telegram.recipient("telegram", "@shopnieuws") == "@shopnieuws"
    with pytest.raises(ValidationError, match="numeric id"):
        telegram.recipient("telegram", "jandevries")


# any answer is a SendResult or a SendError ------------------------------------------------

_SENDERS: list[tuple[Any, str]] = [
    (TwilioAdapter(account_sid=ACCOUNT, auth_token=TOKEN, from_number="OmniShop"), "+316123"),
    (TwilioVoiceAdapter(account_sid=ACCOUNT, auth_token=TOKEN, from_number="+3185888"), "+3161"),
    (WhatsAppAdapter(**META, access_token="EAAJ", phone_number_id="1065403"), "+31612345678"),
    (MessengerAdapter(**META, access_token="EAAJ"), "6543219876543210"),
    (TelegramAdapter(secret_token="omnikit-webhook", bot_token=BOT), "412345678"),
    (MailgunAdapter(api_key="key-3ax6", domain="mg.shop.example.nl", sender=SENDER), "j@x.nl"),
    (WebhookAdapter(secret="whsec-0123456789abcdef", outbound_url="https://x.nl/r"), "C-1"),
]

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["error", "code", "error_subcode", "ok", "description", "parameters", "retry_after"]
            )
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@given(
    st.sampled_from(_SENDERS),
    st.integers(min_value=200, max_value=599),
    st.one_of(
        _JSON.map(lambda document: httpx.Response(200, json=document).content),
        # the shapes the adapters read, with values of any type
        st.fixed_dictionaries(
            {"code": _JSON, "error_subcode": _JSON, "description": _JSON, "parameters": _JSON}
        ).map(
            lambda fields: (
                httpx.Response(200, json={"error": fields, "ok": False, **fields}).content
            )
        ),
        st.binary(max_size=200),
        st.just(b"[" * 5000),
    ),
    st.one_of(st.none(), st.text(max_size=30)),
)
def test_any_answer_is_a_result_or_a_send_error(
    sender: tuple[Any, str], status: int, body: bytes, retry_after: str | None
) -> None:
    adapter, to = sender
    [payload] = adapter.render(OutboundMessage(to=to, text="Hallo"))[:1]
    headers = {"content-type": "application/json"}
    if retry_after is not None and retry_after.isprintable() and retry_after.isascii():
        headers["retry-after"] = retry_after
    answer = httpx.Response(status, headers=headers, content=body)
    with httpx.Client(transport=httpx.MockTransport(lambda _: answer)) as client:
        try:
            result = adapter.send(payload, client)
        except SendError as error:
            assert not (error.undeliverable and error.retryable)
            assert error.retry_after is None or 0 <= error.retry_after <= MAX_RETRY_AFTER
            assert error.status == status
        else:
            assert 200 <= status < 300 and result.http_status == status
