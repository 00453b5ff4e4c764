"""The generic signed JSON webhook: conformance, and what it parses and sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from omnikit import (
    Capabilities,
    EventType,
    InboundRequest,
    Omnikit,
    OutboundMessage,
    PayloadError,
    SignatureError,
    ValidationError,
)
from omnikit.adapters.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookAdapter, sign
from omnikit.testing import AdapterConformance

SECRET = "whsec-0123456789abcdef"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
URL = "https://shop.example.nl/webhooks/webhook"


def signed(document: object, *, at: datetime = NOW, secret: str = SECRET) -> InboundRequest:
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json"} | sign(secret, body, int(at.timestamp()))
    return InboundRequest(method="POST", url=URL, headers=headers, body=body, received_at=NOW)


MESSAGE = {
    "type": "message",
    "id": "chat-1",
    "occurred_at": "2026-11-23T11:59:30+00:00",
    "text": "Waar blijft mijn bestelling? 📦",
    "sender": {"email": "Jan@Example.NL", "name": "Jan", "external_id": "C-1001"},
    "conversation_id": "conv-7",
}


class TestWebhookConformance(AdapterConformance):
    secret = SECRET
    signature_headers = (SIGNATURE_HEADER,)

    @pytest.fixture
    def adapter(self) -> WebhookAdapter:
        return WebhookAdapter(secret=SECRET, outbound_url="https://shop.example.nl/omnikit/replies")

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        return [
            signed(MESSAGE),
            signed({"events": [MESSAGE | {"id": "chat-2", "text": "Hallo?"}]}),
            signed({"type": "status", "id": "reply-1", "status": "read"}),
            signed({"type": "typing", "id": "x"}),
        ]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        headers = {**request.headers, **sign(secret, request.body, int(at.timestamp()))}
        return InboundRequest(**{**request.model_dump(), "headers": headers})

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to="C-1001", text="Uw bestelling is onderweg.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(201, json={"id": "reply-1"})


def test_message_is_recorded_on_the_recognised_customer(kit: Omnikit) -> None:
    kit.adapters.use("webhook", secret=SECRET)
    jan = kit.customers.identify(email="jan@example.nl")
    result = kit.receive("webhook", signed(MESSAGE))
    [interaction] = result.interactions
    assert interaction.customer_id == jan.id
    assert (interaction.channel, interaction.direction, interaction.external_id) == (
        "webchat",
        "inbound",
        "chat-1",
    )
    assert interaction.text == MESSAGE["text"]
    assert interaction.metadata == {"conversation_id": "conv-7"}
    assert interaction.occurred_at == datetime(2026, 11, 23, 11, 59, 30, tzinfo=UTC)
    # the shop's customer number became an identity scoped to the channel
    assert kit.customers.find(external_ids={"webchat": "C-1001"}).id == jan.id
    assert json.loads(result.response.body) == {"received": 1}


def test_a_second_webhook_on_another_channel(kit: Omnikit) -> None:
    kit.adapters.use("webhook", secret=SECRET)
    kit.adapters.use("webhook", secret=SECRET, name="shop", channel="webshop")
    order = {
        "type": "message",
        "id": "order-1001",
        "kind": "order",
        "text": "Order 1001",
        "sender": {"external_id": "C-1001"},
    }
    result = kit.receive("shop", signed(order))
    assert result.interactions[0].channel == "webshop"
    assert result.interactions[0].kind == "order"
    assert sorted(a.name for a in kit.adapters) == ["shop", "webhook"]


def test_timestamp_window() -> None:
    adapter = WebhookAdapter(secret=SECRET)
    adapter.verify(signed(MESSAGE, at=NOW - timedelta(minutes=4, seconds=59)))
    adapter.verify(signed(MESSAGE, at=NOW + timedelta(minutes=4)))
    for at in (NOW - timedelta(minutes=5, seconds=1), NOW + timedelta(minutes=6)):
        with pytest.raises(SignatureError, match="window"):
            adapter.verify(signed(MESSAGE, at=at))
    with pytest.raises(SignatureError, match="required"):
        adapter.verify(InboundRequest(method="POST", url=URL, body=b"{}"))
    request = signed(MESSAGE)
    bad_time = {**request.headers, TIMESTAMP_HEADER.lower(): "yesterday"}
    with pytest.raises(SignatureError, match="not a time"):
        adapter.verify(InboundRequest(method="POST", url=URL, headers=bad_time, body=b"{}"))


def test_bad_bodies_are_payload_errors() -> None:
    adapter = WebhookAdapter(secret=SECRET)
    for document, reason in (
        ({"type": "message", "text": "no id"}, "'id'"),
        ({"events": "nope"}, "'events' must be a list"),
        ([1, 2], "must be an object"),
        ({"type": "message", "id": "x", "sender": "jan"}, "'sender' must be an object"),
        (
            {"type": "message", "id": "x", "sender": {}, "occurred_at": "2026-01-01T00:00"},
            "no time zone",
        ),
        ({"type": "status", "id": "x", "status": "lost"}, "lost"),
    ):
        with pytest.raises(PayloadError, match=reason):
            adapter.parse(signed(document))
    truncated = signed(MESSAGE).model_copy(update={"body": b'{"type": "mess'})
    with pytest.raises(PayloadError, match="not valid JSON"):
        adapter.parse(truncated)
    wrong_type = InboundRequest(
        method="POST", url=URL, headers={"content-type": "text/xml"}, body=b"<a/>"
    )
    with pytest.raises(PayloadError, match="text/xml"):
        adapter.parse(wrong_type)


def test_unknown_event_type_is_acknowledged_and_ignored(kit: Omnikit) -> None:
    kit.adapters.use("webhook", secret=SECRET)
    result = kit.receive("webhook", signed({"type": "typing"}))
    assert result.interactions == ()
    [ignored] = result.ignored
    assert ignored.type is EventType.IGNORED and "typing" in (ignored.reason or "")
    assert result.response.status == 200


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="at least 16"):
        WebhookAdapter(secret="short")
    with pytest.raises(ValidationError, match="tolerance"):
        WebhookAdapter(secret=SECRET, tolerance=timedelta(0))
    with pytest.raises(ValidationError, match="outbound_url"):
        WebhookAdapter(secret=SECRET).render(OutboundMessage(to="x", text="hi"))


def test_render_and_send_sign_the_request() -> None:
    adapter = WebhookAdapter(secret=SECRET, outbound_url="https://shop.example.nl/replies")
    [payload] = adapter.render(OutboundMessage(to="C-1001", text="Onderweg 🚚", reply_to="chat-1"))
    seen: list[httpx.Request] = []

    def shop(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "reply-9"})

    with httpx.Client(transport=httpx.MockTransport(shop)) as client:
        result = adapter.send(payload, client)
    [request] = seen
    assert request.method == "POST" and str(request.url) == "https://shop.example.nl/replies"
    assert json.loads(request.content) == {
        "to": "C-1001",
        "text": "Onderweg 🚚",
        "subject": None,
        "media": [],
        "reply_to": "chat-1",
    }
    # the shop can check the signature exactly as omnikit checks inbound requests
    received = InboundRequest(
        method="POST",
        url="https://shop.example.nl/replies",
        headers=dict(request.headers),
        body=request.content,
    )
    WebhookAdapter(secret=SECRET).verify(received)
    assert result.external_id == "reply-9"


def test_an_idempotency_key_goes_in_a_header_and_as_the_body_id() -> None:
    adapter = WebhookAdapter(secret=SECRET, outbound_url="https://shop.example.nl/replies")
    message = OutboundMessage(to="C-1001", text="Onderweg", idempotency_key="outbox-1001-app")
    seen: list[httpx.Request] = []

    def shop(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "reply-9"})

    with httpx.Client(transport=httpx.MockTransport(shop)) as client:
        for payload in adapter.render(message) + adapter.render(message):  # a retry
            adapter.send(payload, client)
    assert len(seen) == 2
    for request in seen:
        assert request.headers["Idempotency-Key"] == "outbox-1001-app"
        assert json.loads(request.content) == {
            "id": "outbox-1001-app",
            "to": "C-1001",
            "text": "Onderweg",
            "subject": None,
            "media": [],
            "reply_to": None,
        }
        # the key is signed with the body
        WebhookAdapter(secret=SECRET).verify(
            InboundRequest(
                method="POST",
                url=str(request.url),
                headers=dict(request.headers),
                body=request.content,
            )
        )


def test_each_part_of_a_split_message_has_a_key_of_its_own() -> None:
    adapter = WebhookAdapter(secret=SECRET, outbound_url="https://shop.example.nl/replies")
    adapter.capabilities = Capabilities(text_limit=8)
    payloads = adapter.render(OutboundMessage(to="C-1", text="een twee drie", idempotency_key="k"))
    assert [p.headers["Idempotency-Key"] for p in payloads] == ["k:1", "k:2"]
    assert [json.loads(p.body)["id"] for p in payloads] == ["k:1", "k:2"]
    unkeyed = adapter.render(OutboundMessage(to="C-1", text="een twee drie"))
    assert all("Idempotency-Key" not in p.headers and b'"id"' not in p.body for p in unkeyed)
