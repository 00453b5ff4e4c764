"""The LINE adapter passes omnikit's adapter conformance kit, and maps LINE exactly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from omnikit import EventType, InboundRequest, Omnikit, OutboundMessage, SignatureError
from omnikit.adapters import Adapter, OutboundPayload
from omnikit.testing import AdapterConformance

from omnikit_line import LINE_CHANNEL, SIGNATURE_HEADER, LineAdapter

CHANNEL_SECRET = "8c5a3e1b9f0d4c27a6e8b1d3f5a7c9e0"
ACCESS_TOKEN = "W1Zq9u2Hk0pYbLr7dC3sVx8nTgA5mE6jF4oR/long-lived+token="
USER = "U4af4980629c1f2d8e0a7b6c5d4e3f2a1"
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
URL = "https://shop.example.nl/webhooks/line"


def signed(document: dict[str, Any], secret: str = CHANNEL_SECRET) -> InboundRequest:
    """A webhook request as LINE sends it: the signature is the Base64 HMAC-SHA256 of
    the raw body under the channel secret (written out here, not taken from the
    adapter)."""
    body = json.dumps(document, ensure_ascii=False).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: base64.b64encode(digest).decode(),
    }
    return InboundRequest(method="POST", url=URL, headers=headers, body=body, received_at=RECEIVED)


def event(kind: str = "message", **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": 1795435170727,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": "01JDFQ3W5C8N2V7XKM4R6T9Y0B",
        "deliveryContext": {"isRedelivery": False},
        **fields,
    }


TEXT = event(
    replyToken="38ef843bde154d9b91c21320ffd17a0f",
    message={
        "id": "468789577898262530",
        "type": "text",
        "quoteToken": "q3Plxr4AgKd2A0Q4uUiOptlH1fJBXgXIpBo3CJg9Ug",
        "text": "Waar blijft mijn bestelling? 📦",
    },
)
IMAGE = event(
    webhookEventId="01JDFQ3X0B2C4D6E8F0G2H4J6K",
    replyToken="9a1c5e2b7d8f4a6c0e1b3d5f7a9c2e4b",
    message={
        "id": "468789600123456789",
        "type": "image",
        "quoteToken": "yHAz4Ua2wx7s6PA5ZtDSA1GJmx2",
        "contentProvider": {"type": "line"},
    },
)
FOLLOW = event("follow", webhookEventId="01JDFQ2A7Z", replyToken="85cbe770fa8b4f45bbd5f4cf")
QUOTE = event(
    webhookEventId="01JDFQ4M1N3P5Q7R9S1T3U5V7W",
    message={
        "id": "468789700987654321",
        "type": "text",
        "text": "Ja, morgen graag",
        "quotedMessageId": "468789650000000001",
    },
)
GROUP_STICKER = event(
    webhookEventId="01JDFQ5A",
    source={"type": "group", "groupId": "Ca56f94637c8f1e2d3b4a5968778695a4", "userId": USER},
    message={
        "id": "468789800111111111",
        "type": "sticker",
        "packageId": "446",
        "stickerId": "1988",
    },
)
DESTINATION = "U8189cf6745fc0d808977bdb0b9f22995"


def body(*events: dict[str, Any]) -> dict[str, Any]:
    return {"destination": DESTINATION, "events": list(events)}


class TestLineConformance(AdapterConformance):
    secret = CHANNEL_SECRET
    signature_headers = (SIGNATURE_HEADER,)
    # LINE signs the body but puts no time in the signature.
    signs_time = False

    @pytest.fixture
    def adapter(self) -> LineAdapter:
        return LineAdapter(channel_secret=CHANNEL_SECRET, channel_access_token=ACCESS_TOKEN)

    @pytest.fixture
    def kit(self, adapter: Adapter) -> Iterator[Omnikit]:
        # omnikit has no "line" channel: the kit needs it before the adapter.
        with Omnikit("sqlite:///:memory:") as kit:
            kit.channels.register(LINE_CHANNEL)
            kit.adapters.use(adapter)
            yield kit

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        redelivered = TEXT | {"deliveryContext": {"isRedelivery": True}}
        return [
            signed(body(TEXT)),
            signed(body(FOLLOW, IMAGE, QUOTE)),
            signed(body(GROUP_STICKER)),
            signed(body(redelivered)),
            signed(body()),  # the console's "Verify" button sends no events
        ]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        digest = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
        headers = {**request.headers, SIGNATURE_HEADER.lower(): base64.b64encode(digest).decode()}
        return InboundRequest(**{**request.model_dump(), "headers": headers})

    def messages_in(self, payload: OutboundPayload) -> int:
        # a push request carries up to five messages
        return len(json.loads(payload.body)["messages"])

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to=USER, text="Uw bestelling is onderweg.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(200, json={"sentMessages": [{"id": "469000000000000001"}]})


@pytest.fixture
def adapter() -> LineAdapter:
    return LineAdapter(channel_secret=CHANNEL_SECRET, channel_access_token=ACCESS_TOKEN)


def test_text_message(adapter: LineAdapter) -> None:
    [message] = adapter.parse(signed(body(TEXT)))
    assert message.type is EventType.MESSAGE
    assert (message.channel, message.external_id) == ("line", "468789577898262530")
    assert message.text == "Waar blijft mijn bestelling? 📦"
    assert message.sender is not None and message.sender.handles == {"line": USER}
    assert message.occurred_at == datetime(2026, 11, 23, 11, 59, 30, 727000, tzinfo=UTC)
    assert message.metadata == {
        "webhook_event_id": "01JDFQ3W5C8N2V7XKM4R6T9Y0B",
        "reply_token": "38ef843bde154d9b91c21320ffd17a0f",
        "is_redelivery": False,
    }


def test_one_request_carries_several_events(adapter: LineAdapter) -> None:
    follow, image, quote = adapter.parse(signed(body(FOLLOW, IMAGE, QUOTE)))
    assert follow.type is EventType.IGNORED and "friend" in (follow.reason or "")
    [picture] = image.attachments
    assert picture.content_type == "image/jpeg"
    assert picture.url == "https://api-data.line.me/v2/bot/message/468789600123456789/content"
    assert quote.metadata["in_reply_to"] == "468789650000000001"
    [sticker] = adapter.parse(signed(body(GROUP_STICKER)))
    assert sticker.metadata["sticker"] == {"packageId": "446", "stickerId": "1988"}
    assert sticker.metadata["conversation_id"] == "Ca56f94637c8f1e2d3b4a5968778695a4"


def test_the_same_user_twice_is_one_customer() -> None:
    with Omnikit("sqlite:///:memory:") as kit:
        kit.channels.register(LINE_CHANNEL)
        kit.adapters.use("line", channel_secret=CHANNEL_SECRET)
        [first] = kit.receive("line", signed(body(TEXT))).interactions
        [second] = kit.receive("line", signed(body(QUOTE))).interactions
        assert first.customer_id == second.customer_id
        found = kit.customers.find(handles={"line": USER})
        assert found is not None and found.id == first.customer_id
        with pytest.raises(SignatureError):
            kit.receive("line", signed(body(TEXT), secret="0" * 32))


def test_push_request(adapter: LineAdapter) -> None:
    # omnikit stores handles lower-cased; the push still names the user as LINE wrote it
    [payload] = adapter.render(OutboundMessage(to=USER.lower(), text="Morgen tussen 9 en 12 🚚"))
    seen: list[httpx.Request] = []

    def line_api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"sentMessages": [{"id": "469000000000000002"}]})

    with httpx.Client(transport=httpx.MockTransport(line_api)) as client:
        result = adapter.send(payload, client)
    [request] = seen
    assert (request.method, str(request.url)) == ("POST", "https://api.line.me/v2/bot/message/push")
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "to": USER,
        "messages": [{"type": "text", "text": "Morgen tussen 9 en 12 🚚"}],
    }
    assert result.external_id == "469000000000000002"


def test_at_most_five_messages_per_push(adapter: LineAdapter) -> None:
    photos = tuple(f"https://shop.example.nl/img/{n}.jpg" for n in range(3))
    text = ("woord " * 2400).strip()  # 14,399 characters: three text messages
    payloads = adapter.render(OutboundMessage(to=USER, text=text, media=photos))
    batches = [json.loads(p.body)["messages"] for p in payloads]
    assert [len(b) for b in batches] == [5, 1]
    kinds = [m["type"] for batch in batches for m in batch]
    assert kinds == ["image"] * 3 + ["text"] * 3
    assert batches[0][0] == {
        "type": "image",
        "originalContentUrl": photos[0],
        "previewImageUrl": photos[0],
    }
    texts = [m["text"] for batch in batches for m in batch if m["type"] == "text"]
    assert all(len(t) <= 5000 for t in texts) and " ".join(texts) == text
