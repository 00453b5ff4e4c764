"""kit.receive: from parsed events to customers, interactions and statuses.

A small in-test adapter hands ``kit.receive`` exactly the events each test needs, so
these tests pin the facade's rules independently of any provider's format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from omnikit import (
    BaseAdapter,
    DeliveryStatus,
    Event,
    EventType,
    InboundEvent,
    InboundRequest,
    Omnikit,
    OutboundPayload,
    Response,
    Sender,
    SignatureError,
    UnknownAdapterError,
    ValidationError,
)
from omnikit.inbound import advance_status

S = DeliveryStatus


class Scripted(BaseAdapter):
    """Parses a JSON list of InboundEvent dicts; verifies a fixed header."""

    name = "scripted"
    channel = "sms"

    def handshake(self, request: InboundRequest) -> Response | None:
        if request.method == "GET" and "challenge" in request.params:
            if request.params.get("token") != "right":
                raise SignatureError("wrong verify token")
            return Response(body=request.params["challenge"].encode())
        return None

    def verify(self, request: InboundRequest) -> None:
        if request.header("x-ok") != "yes":
            raise SignatureError("not signed")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        return [InboundEvent(**item) for item in json.loads(request.body)]

    def ack(self, events: Sequence[InboundEvent]) -> Response:
        return Response(status=202, body=str(len(events)).encode())

    def render(self, message: Any) -> list[OutboundPayload]:
        return []


def request(*events: dict[str, Any], signed: bool = True) -> InboundRequest:
    return InboundRequest(
        method="POST",
        url="https://hooks.example.com/webhooks/scripted",
        headers={"X-OK": "yes"} if signed else {},
        body=json.dumps(events).encode(),
    )


def sms(identifier: str, phone: str = "+31612345678", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": "sms",
        "external_id": identifier,
        "sender": {"phone": phone},
        "text": f"text of {identifier}",
        **extra,
    }


def status(identifier: str, value: str | None, **metadata: Any) -> dict[str, Any]:
    return {
        "type": "status",
        "channel": "sms",
        "external_id": identifier,
        "status": value,
        "metadata": metadata,
    }


@pytest.fixture
def scripted(kit: Omnikit) -> Omnikit:
    kit.adapters.use(Scripted())
    return kit


def test_statuses_only_move_forward() -> None:
    assert advance_status(None, S.SENT) is S.SENT
    assert advance_status(S.SENT, None) is S.SENT
    assert advance_status(S.QUEUED, S.DELIVERED) is S.DELIVERED
    assert advance_status(S.READ, S.DELIVERED) is S.READ
    assert advance_status(S.DELIVERED, S.SENT) is S.DELIVERED
    assert advance_status(S.SENT, S.FAILED) is S.FAILED
    assert advance_status(S.QUEUED, S.FAILED) is S.FAILED
    assert advance_status(S.DELIVERED, S.FAILED) is S.DELIVERED
    assert advance_status(S.FAILED, S.READ) is S.FAILED


def test_message_identifies_the_sender_and_records_once(scripted: Omnikit) -> None:
    jan = scripted.customers.identify(phone="06 12345678", name="Jan")
    result = scripted.receive("scripted", request(sms("SM1")))
    [interaction] = result.interactions
    assert interaction.customer_id == jan.id
    assert (interaction.channel, interaction.direction, interaction.kind) == (
        "sms",
        "inbound",
        "message",
    )
    assert result.response.status == 202 and result.response.body == b"1"
    again = scripted.receive("scripted", request(sms("SM1"), sms("SM2")))
    assert again.interactions[0].id == interaction.id
    assert [step.external_id for step in scripted.journey(jan.id).steps] == ["SM1", "SM2"]


def test_a_new_sender_becomes_a_customer(scripted: Omnikit) -> None:
    event = sms("SM1", phone="+48221234567") | {
        "sender": {"phone": "+48221234567", "name": "Ola", "language": "pl"}
    }
    [interaction] = scripted.receive("scripted", request(event)).interactions
    ola = scripted.customers.get(interaction.customer_id)
    assert (ola.name, ola.language) == ("Ola", "pl")
    assert scripted.customers.find(phone="+48 22 123 45 67") == ola


def test_withheld_caller_gets_a_customer_of_its_own(scripted: Omnikit) -> None:
    call = {
        "type": "message",
        "channel": "phone",
        "external_id": "CA1",
        "kind": "call",
        "sender": {"phone": "anonymous"},
    }
    first = scripted.receive("scripted", request(call)).interactions[0]
    assert first.metadata == {"sender": "unknown"}
    again = scripted.receive("scripted", request(call)).interactions[0]
    assert again.id == first.id
    other = scripted.receive("scripted", request(call | {"external_id": "CA2", "sender": None}))
    assert other.interactions[0].customer_id != first.customer_id
    assert scripted.customers.get(first.customer_id).name == "Unknown sender"


def test_shared_number_goes_to_the_first_holder_naming_all(scripted: Omnikit) -> None:
    jan = scripted.customers.identify(email="jan@example.nl")
    els = scripted.customers.identify(email="els@example.nl")
    for holder in (jan, els):
        scripted.customers.add_identity(holder.id, phone="020 123 4567", shared=True)
    [interaction] = scripted.receive("scripted", request(sms("SM1", "+31201234567"))).interactions
    candidates = interaction.metadata["candidates"]
    assert isinstance(candidates, list) and sorted(candidates) == sorted([jan.id, els.id])
    assert interaction.customer_id == candidates[0]


def test_status_moves_an_outbound_message_forward_never_back(scripted: Omnikit) -> None:
    jan = scripted.customers.identify(phone="06 12345678")
    sent = scripted.record(
        customer=jan.id, channel="sms", direction="outbound", kind="message", external_id="SMo"
    )
    seen: list[Event] = []
    scripted.on("interaction.updated", seen.append)
    delivered = scripted.receive("scripted", request(status("SMo", "delivered")))
    assert [i.status for i in delivered.updated] == [S.DELIVERED]
    read = scripted.receive("scripted", request(status("SMo", "read", price="0.07")))
    late = scripted.receive("scripted", request(status("SMo", "delivered")))
    assert [i.status for i in read.updated] == [S.READ]
    assert late.updated == () and late.ignored == ()
    [stored] = [i for i in scripted.journey(jan.id).steps if i.id == sent.id]
    assert stored.status is S.READ and stored.metadata == {"price": "0.07"}
    assert [(e.detail["before"], e.detail["after"]) for e in seen] == [
        (None, "delivered"),
        ("delivered", "read"),
    ]


def test_call_outcome_merges_into_the_call(scripted: Omnikit) -> None:
    call = {
        "type": "message",
        "channel": "sms",
        "external_id": "CA9",
        "kind": "call",
        "sender": {"phone": "+31612345678"},
        "metadata": {"caller": "known"},
    }
    scripted.receive("scripted", request(call))
    result = scripted.receive(
        "scripted", request(status("CA9", None, duration=42, outcome="completed"))
    )
    [updated] = result.updated
    assert updated.status is None
    assert updated.metadata == {"caller": "known", "duration": 42, "outcome": "completed"}


def test_status_for_an_unknown_message_is_ignored_with_a_reason(scripted: Omnikit) -> None:
    result = scripted.receive("scripted", request(status("SM-nobody", "read")))
    [ignored] = result.ignored
    assert "SM-nobody" in (ignored.reason or "")
    assert result.response.status == 202


def test_ignored_events_are_acknowledged(scripted: Omnikit) -> None:
    typing = {"type": "ignored", "channel": "sms", "reason": "typing indicator"}
    result = scripted.receive("scripted", request(typing, sms("SM1")))
    assert [e.reason for e in result.ignored] == ["typing indicator"]
    assert len(result.interactions) == 1 and len(result.events) == 2


def test_bad_signature_records_nothing(scripted: Omnikit) -> None:
    with pytest.raises(SignatureError):
        scripted.receive("scripted", request(sms("SM1"), signed=False))
    assert scripted.customers.find(phone="+31612345678") is None


def test_handshake_answers_without_verifying(scripted: Omnikit) -> None:
    challenge = InboundRequest(
        method="GET", url="https://hooks.example.com/webhooks/scripted?challenge=42&token=right"
    )
    result = scripted.receive("scripted", challenge)
    assert result.response.body == b"42" and result.events == ()
    wrong = InboundRequest(
        method="GET", url="https://hooks.example.com/webhooks/scripted?challenge=42&token=no"
    )
    with pytest.raises(SignatureError):
        scripted.receive("scripted", wrong)


def test_received_at_defaults_to_the_kits_clock() -> None:
    seen: list[datetime | None] = []

    class Clocked(Scripted):
        name = "clocked"

        def verify(self, request: InboundRequest) -> None:
            seen.append(request.received_at)

    fixed = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    with Omnikit("sqlite:///:memory:", clock=lambda: fixed) as clocked:
        clocked.adapters.use(Clocked())
        clocked.receive("clocked", request())
    assert seen == [fixed]


def test_unknown_adapter_and_bad_request(scripted: Omnikit) -> None:
    with pytest.raises(UnknownAdapterError, match="configure it with"):
        scripted.receive("twilio", request())
    with pytest.raises(UnknownAdapterError, match="configured: scripted"):
        scripted.receive("nope", request())
    with pytest.raises(ValidationError, match="InboundRequest"):
        scripted.receive("scripted", {"method": "POST"})  # type: ignore[arg-type]


def test_inbound_request_normalises_headers_and_query() -> None:
    incoming = InboundRequest(
        method="post",
        url="https://x.example/hook?a=1&b=two&a=3",
        headers={"X-Twilio-Signature": "abc", "Content-Type": "text/plain"},
    )
    assert incoming.method == "POST"
    assert incoming.header("x-twilio-signature") == "abc"
    assert incoming.header("CONTENT-TYPE") == "text/plain"
    assert incoming.params == {"a": "1", "b": "two"}
    assert InboundRequest(method="GET", url="https://x", query={"q": "1"}).params == {"q": "1"}
    with pytest.raises(ValidationError):
        InboundRequest(method="GET", url="https://x", received_at=datetime(2026, 1, 1))


def test_sender_model_keeps_identifiers() -> None:
    sender = Sender(phone="+31612345678", handles={"telegram": "janj"}, name="Jan")
    assert sender.external_ids == {} and sender.handles == {"telegram": "janj"}
    assert EventType("status") is EventType.STATUS


def test_an_unreadable_identifier_is_left_out_and_the_rest_used(scripted: Omnikit) -> None:
    jan = scripted.customers.identify(email="jan@example.nl")
    event = sms("SM7") | {"sender": {"phone": "anonymous", "email": "JAN@example.nl"}}
    [interaction] = scripted.receive("scripted", request(event)).interactions
    assert interaction.customer_id == jan.id
    assert "sender" not in interaction.metadata


def test_an_adapter_breaking_the_protocol_is_a_validation_error(kit: Omnikit) -> None:
    class Sloppy(Scripted):
        name = "sloppy"

        def parse(self, request: InboundRequest) -> list[InboundEvent]:
            return [{"type": "message"}]  # type: ignore[list-item]

    class Rude(Scripted):
        name = "rude"

        def ack(self, events: Sequence[InboundEvent]) -> Response:
            return "ok"  # type: ignore[return-value]

    kit.adapters.use(Sloppy())
    kit.adapters.use(Rude())
    with pytest.raises(ValidationError, match="must return a list of InboundEvent"):
        kit.receive("sloppy", request())
    with pytest.raises(ValidationError, match="must return a Response"):
        kit.receive("rude", request())
