"""Outbound: preferences, consent, policies, and what ``kit.notify`` decides per channel.

Every test runs on SQLite file, SQLite memory and PostgreSQL. The clock is fixed so
that quiet hours, caps and session windows are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest

from omnikit import (
    Cap,
    ConflictError,
    DeliveryOutcome,
    DeliveryStatus,
    Message,
    NotFoundError,
    Omnikit,
    Policy,
    QuietHours,
    TemplateError,
    UnknownChannelError,
    ValidationError,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 13:00 in Amsterdam
SECRET = "whsec-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def okit(store_url: str, clock: Clock) -> Iterator[Omnikit]:
    """A kit with an app push webhook, e-mail and SMS configured."""
    kit = Omnikit(store_url, default_region="NL", clock=clock)
    kit.adapters.use(
        "webhook", secret=SECRET, channel="app", name="app", outbound_url="http://push.test/send"
    )
    kit.adapters.use(
        "email", sender="Shop <service@shop.example>", smtp_host="127.0.0.1", smtp_port=2525
    )
    kit.adapters.use(
        "twilio", account_sid="AC" + "0" * 32, auth_token="1" * 32, from_number="+3197010000000"
    )
    yield kit
    kit.close()


def jan(kit: Omnikit, **extra: object):  # type: ignore[no-untyped-def]
    return kit.customers.identify(
        name="Jan",
        email="jan@example.nl",
        phone="06 12345678",
        external_ids={"app": "user-1"},
        **extra,  # type: ignore[arg-type]
    )


CONFIRM = Message(subject="Order {{ order }}", body="Your order {{ order }} is on its way.")


def outcomes(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(d.channel, d.outcome.value) for d in result.deliveries]


def count_outbox(kit: Omnikit) -> int:
    return len(kit.outbox.pending(limit=10_000)) + len(kit.outbox.dead(limit=10_000))


# policies --------------------------------------------------------------------------------


def test_default_policies(okit: Omnikit) -> None:
    assert {p.purpose for p in okit.policies} >= {
        "service",
        "order_updates",
        "marketing",
        "security",
    }
    assert okit.policies.get("marketing").consent_required
    assert okit.policies.get("security").critical


def test_policy_errors(okit: Omnikit) -> None:
    with pytest.raises(ValidationError, match="'newsletter' is not a known purpose"):
        okit.policies.get("newsletter")
    with pytest.raises(ValidationError, match="limit"):
        Cap(limit=0, per=timedelta(days=7))
    with pytest.raises(ValidationError, match="limit"):
        Cap(limit=-1, per=timedelta(days=7))
    with pytest.raises(ValidationError, match="positive"):
        Cap(limit=3, per=timedelta(0))
    with pytest.raises(UnknownChannelError):
        okit.policies.set(Policy(purpose="news", channels=("pigeon",)))
    with pytest.raises(ValidationError, match="cannot carry outbound"):
        okit.policies.set(Policy(purpose="news", channels=("webshop",)))
    with pytest.raises(ValidationError, match="twice"):
        Policy(purpose="news", channels=("email", "email"))
    assert "news" not in okit.policies


# preferences -----------------------------------------------------------------------------


def test_preferences_merge_per_purpose(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["app", "email"]})
    prefs = okit.preferences.set(c.id, channels={"service": ["email"]}, language="nl")
    assert prefs.channels == {"order_updates": ("app", "email"), "service": ("email",)}
    assert prefs.language == "nl"
    prefs = okit.preferences.set(c.id, channels={"service": []})
    assert prefs.channels == {"order_updates": ("app", "email")}
    assert okit.preferences.get(c.id) == prefs
    assert prefs.updated_at == NOW


def test_preferences_bad_input_changes_nothing(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["email"]})
    before = okit.preferences.get(c.id)
    with pytest.raises(ValidationError, match="'nope' is not a known purpose"):
        okit.preferences.set(c.id, channels={"nope": ["email"]})
    with pytest.raises(UnknownChannelError):
        okit.preferences.set(c.id, channels={"service": ["fax"]})
    with pytest.raises(ValidationError, match="cannot carry outbound"):
        okit.preferences.set(c.id, channels={"service": ["webshop"]})
    with pytest.raises(ValidationError, match="list of channel ids"):
        okit.preferences.set(c.id, channels={"service": "email"})
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        QuietHours(start=time(22), end=time(7), timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="empty"):
        QuietHours(start=time(22), end=time(22), timezone="Europe/Amsterdam")
    with pytest.raises(ValidationError, match="QuietHours"):
        okit.preferences.set(c.id, quiet_hours="22:00-07:00")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        okit.preferences.set("01a00000-0000-7000-8000-000000000000", language="nl")
    assert okit.preferences.get(c.id) == before


def test_quiet_hours_wrap_midnight_in_the_customers_zone() -> None:
    quiet = QuietHours(start=time(22), end=time(7, 30), timezone="Europe/Amsterdam")
    # 22:30 in Amsterdam (UTC+1 in November) -> until 07:30 next morning local.
    assert quiet.until(datetime(2026, 11, 23, 21, 30, tzinfo=UTC)) == datetime(
        2026, 11, 24, 6, 30, tzinfo=UTC
    )
    assert quiet.until(datetime(2026, 11, 24, 5, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 6, 30, tzinfo=UTC
    )
    assert quiet.until(datetime(2026, 11, 23, 12, 0, tzinfo=UTC)) is None
    day = QuietHours(start=time(12), end=time(14), timezone="UTC")
    assert day.until(datetime(2026, 11, 23, 13, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 14, 0, tzinfo=UTC
    )


# consent ---------------------------------------------------------------------------------


def test_consent_history_keeps_provenance(okit: Omnikit, clock: Clock) -> None:
    c = jan(okit)
    granted = okit.consent.grant(
        c.id, purpose="marketing", channel="email", source="signup form", actor="web"
    )
    clock.now = NOW + timedelta(days=1)
    revoked = okit.consent.revoke(
        c.id, purpose="marketing", channel="email", source="unsubscribe link", note="campaign 12"
    )
    history = okit.consent.history(c.id)
    assert [(r.granted, r.source, r.actor, r.at) for r in history] == [
        (True, "signup form", "web", NOW),
        (False, "unsubscribe link", None, NOW + timedelta(days=1)),
    ]
    assert history == [granted, revoked]
    assert not okit.consent.allowed(c.id, purpose="marketing", channel="email")
    assert okit.consent.allowed(c.id, purpose="service", channel="email")


def test_consent_bad_input(okit: Omnikit) -> None:
    c = jan(okit)
    with pytest.raises(ValidationError, match="'promo' is not a known purpose"):
        okit.consent.grant(c.id, purpose="promo", channel="email", source="form")
    with pytest.raises(UnknownChannelError):
        okit.consent.grant(c.id, purpose="marketing", channel="fax", source="form")
    with pytest.raises(ValidationError, match="source"):
        okit.consent.grant(c.id, purpose="marketing", channel="email", source="  ")
    with pytest.raises(ValidationError, match="future"):
        okit.consent.grant(
            c.id, purpose="marketing", channel="email", source="form", at=NOW + timedelta(days=2)
        )
    with pytest.raises(ValidationError, match="'\\*' is not a known purpose"):
        okit.consent.grant(c.id, purpose="*", channel="email", source="form")
    assert okit.consent.history(c.id) == []


# notify ----------------------------------------------------------------------------------


def test_scenario3_app_and_email_only_those_channels(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["app", "email"]})
    result = okit.notify(c.id, CONFIRM, purpose="order_updates", data={"order": "1001"})
    assert outcomes(result) == [("app", "queued"), ("email", "fallback")]
    [item] = okit.outbox.pending()
    assert item.channel == "app" and item.fallback == ("email",)
    assert item.payload["message"]["text"] == "Your order 1001 is on its way."  # type: ignore[index]
    step = okit.journey(c.id).steps[-1]
    assert (step.channel, step.direction.value, step.status) == (
        "app",
        "outbound",
        DeliveryStatus.QUEUED,
    )
    assert step.purpose == ("order_updates",)
    assert step.id == result.deliveries[0].interaction_id == item.interaction_id


def test_reach_all_sends_on_every_usable_channel(okit: Omnikit) -> None:
    okit.policies.set(Policy(purpose="order_updates", reach="all"))
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["app", "email"]})
    result = okit.notify(c.id, CONFIRM, purpose="order_updates", data={"order": "7"})
    assert outcomes(result) == [("app", "queued"), ("email", "queued")]
    assert result.channels == ["app", "email"]
    assert sorted(i.channel for i in okit.outbox.pending()) == ["app", "email"]


def test_opted_out_channel_is_skipped_even_when_critical(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"security": ["sms", "email"]})
    okit.consent.revoke(c.id, purpose="security", channel="sms", source="STOP reply")
    result = okit.notify(c.id, "Your password was changed", purpose="security")
    assert outcomes(result) == [("sms", "skipped"), ("email", "queued")]
    assert "opted out of security on sms (STOP reply" in result.deliveries[0].reason
    okit.consent.revoke(c.id, purpose="*", channel="*", source="GDPR request")
    result = okit.notify(c.id, "again", purpose="security", critical=True)
    assert [d.outcome for d in result.deliveries] == [DeliveryOutcome.SKIPPED] * 2
    assert "all messages on every channel" in result.deliveries[1].reason


def test_marketing_needs_consent_per_channel(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"marketing": ["email", "sms"]})
    result = okit.notify(c.id, "Sale!", purpose="marketing")
    assert outcomes(result) == [("email", "skipped"), ("sms", "skipped")]
    assert "no consent for marketing on email" in result.deliveries[0].reason
    okit.consent.grant(c.id, purpose="marketing", channel="sms", source="store counter")
    result = okit.notify(c.id, "Sale!", purpose="marketing")
    assert outcomes(result) == [("email", "skipped"), ("sms", "queued")]
    okit.consent.grant(c.id, purpose="marketing", channel="*", source="app settings")
    assert outcomes(okit.notify(c.id, "Sale!", purpose="marketing"))[0] == ("email", "queued")


def test_quiet_hours_defer_until_they_end(okit: Omnikit, clock: Clock) -> None:
    c = jan(okit)
    okit.preferences.set(
        c.id,
        channels={"order_updates": ["sms"]},
        quiet_hours=QuietHours(start=time(22), end=time(8), timezone="Europe/Amsterdam"),
    )
    clock.now = datetime(2026, 11, 23, 22, 15, tzinfo=UTC)  # 23:15 in Amsterdam
    [shown] = okit.preview(c.id, "Shipped", purpose="order_updates").deliveries
    result = okit.notify(c.id, "Shipped", purpose="order_updates")
    [delivery] = result.deliveries
    until = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert (delivery.outcome, delivery.until) == (DeliveryOutcome.DEFERRED, until)
    assert delivery.reason == "quiet hours until 08:00 (Europe/Amsterdam)"
    assert (shown.outcome, shown.until, shown.reason) == (
        delivery.outcome,
        delivery.until,
        delivery.reason,
    )
    assert okit.outbox.get(delivery.outbox_id or "").due_at == until
    assert okit.outbox.run_once().claimed == 0  # not due yet
    critical = okit.notify(c.id, "New login", purpose="order_updates", critical=True)
    assert outcomes(critical) == [("sms", "queued")]


def test_frequency_cap_per_channel_and_overall(okit: Omnikit, clock: Clock) -> None:
    okit.policies.set(
        Policy(
            purpose="order_updates",
            reach="all",
            caps=(
                Cap(limit=3, per=timedelta(days=7)),
                Cap(limit=1, per=timedelta(days=1), channel="sms"),
            ),
        )
    )
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["sms", "email"]})
    first = okit.notify(c.id, "1", purpose="order_updates")
    assert outcomes(first) == [("sms", "queued"), ("email", "queued")]
    second = okit.notify(c.id, "2", purpose="order_updates")
    assert outcomes(second) == [("sms", "skipped"), ("email", "queued")]
    assert "1 of 1 order_updates messages per 1 day on sms" in second.deliveries[0].reason
    clock.now += timedelta(days=1)
    assert outcomes(okit.notify(c.id, "3", purpose="order_updates")) == [
        ("sms", "queued"),
        ("email", "queued"),
    ]
    fourth = okit.notify(c.id, "4", purpose="order_updates")
    assert [d.outcome for d in fourth.deliveries] == [DeliveryOutcome.SKIPPED] * 2
    assert "3 of 3 order_updates messages per 7 days over all channels" in (
        fourth.deliveries[1].reason
    )
    assert outcomes(okit.notify(c.id, "5", purpose="order_updates", critical=True)) == [
        ("sms", "queued"),
        ("email", "queued"),
    ]
    clock.now += timedelta(days=7)
    assert len(okit.notify(c.id, "6", purpose="order_updates").queued) == 2


def test_missing_identity_and_adapter_are_reasons(okit: Omnikit) -> None:
    c = okit.customers.identify(email="only@example.nl")
    okit.preferences.set(c.id, channels={"service": ["sms", "telegram", "email"]})
    result = okit.notify(c.id, "Hello", purpose="service")
    assert outcomes(result) == [("sms", "skipped"), ("telegram", "skipped"), ("email", "queued")]
    assert result.deliveries[0].reason == "no phone identity"
    assert result.deliveries[1].reason == "no handle identity for telegram"
    other = okit.customers.identify(email="x@example.nl", handles={"telegram": "x1"})
    okit.preferences.set(other.id, channels={"service": ["telegram"]})
    [skipped] = okit.notify(other.id, "Hello", purpose="service").deliveries
    assert skipped.reason == "no adapter is configured to send on telegram"


def test_returned_post_stops_post(okit: Omnikit) -> None:
    piet = okit.customers.identify(
        email="piet@example.nl", address="Kerkstraat 1, 1017 GA Amsterdam"
    )
    okit.record(
        customer=piet,
        channel="post",
        direction="inbound",
        kind="returned_mail",
        text="Return to sender",
        metadata={"reason": "addressee moved"},
    )
    okit.preferences.set(piet.id, channels={"service": ["post", "email"]})
    result = okit.notify(piet.id, "Your new card", purpose="service")
    assert outcomes(result) == [("post", "skipped"), ("email", "queued")]
    assert result.deliveries[0].reason == ("postal identity marked undeliverable: addressee moved")


def test_whatsapp_session_window_needs_a_template(okit: Omnikit, clock: Clock) -> None:
    okit.adapters.use(
        "whatsapp", app_secret="s" * 32, verify_token="v", access_token="t", phone_number_id="123"
    )
    c = jan(okit)
    okit.preferences.set(c.id, channels={"service": ["whatsapp"]})
    [skipped] = okit.notify(c.id, "Hi", purpose="service").deliveries
    assert skipped.outcome is DeliveryOutcome.SKIPPED
    assert "24-hour session window" in skipped.reason and "template" in skipped.reason
    templated = Message(
        body="Hi",
        channels={
            "whatsapp": {
                "template": "order_update",  # type: ignore[dict-item]
                "template_params": ("{{ n }}",),
            }
        },
    )
    [queued] = okit.notify(c.id, templated, purpose="service", data={"n": "5"}).deliveries
    assert queued.outcome is DeliveryOutcome.QUEUED
    item = okit.outbox.get(queued.outbox_id or "")
    assert item.payload["message"]["template"] == "order_update"  # type: ignore[index]
    okit.record(
        customer=c,
        channel="whatsapp",
        direction="inbound",
        kind="message",
        text="?",
        occurred_at=NOW - timedelta(hours=23),
    )
    [free] = okit.notify(c.id, "Hi", purpose="service").deliveries
    assert free.outcome is DeliveryOutcome.QUEUED
    [text] = okit.notify(c.id, templated, purpose="service", data={"n": "5"}).deliveries
    sent = okit.outbox.get(text.outbox_id or "").payload["message"]
    assert (sent["template"], sent["text"]) == (None, "Hi")  # type: ignore[index]


def test_bad_input_queues_nothing(okit: Omnikit) -> None:
    c = jan(okit)
    with pytest.raises(ValidationError, match="not a known purpose"):
        okit.notify(c.id, "x", purpose="spam")
    with pytest.raises(ValidationError, match="Message or a string"):
        okit.notify(c.id, 42, purpose="service")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        okit.notify("01a00000-0000-7000-8000-000000000000", "x", purpose="service")
    with pytest.raises(ValidationError, match="critical"):
        okit.notify(c.id, "x", purpose="service", critical="yes")  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match="missing"):
        okit.notify(c.id, Message(body="{{ missing }}"), purpose="service")
    with pytest.raises(TemplateError):
        okit.notify(c.id, Message(body="{{ ''.__class__.__mro__ }}"), purpose="service")
    with pytest.raises(TemplateError):
        okit.notify(c.id, Message(body="{% include '/etc/passwd' %}"), purpose="service")
    okit.preferences.set(c.id, channels={"service": ["sms"]})
    with pytest.raises(ValidationError, match="too long"):
        okit.notify(c.id, "x" * 2000, purpose="service")
    assert count_outbox(okit) == 0
    assert okit.journey(c.id).steps == ()


def test_preview_writes_nothing(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["app", "email"]})
    shown = okit.preview(c.id, CONFIRM, purpose="order_updates", data={"order": "9"})
    assert [(d.channel, d.outcome.value) for d in shown.deliveries] == [
        ("app", "queued"),
        ("email", "fallback"),
    ]
    assert shown.rendered["email"].subject == "Order 9"
    assert shown.rendered["app"].text == "Your order 9 is on its way."
    other = okit.preview(
        c.id, CONFIRM, purpose="order_updates", data={"order": "9"}, channels=["sms"]
    )
    assert [d.channel for d in other.deliveries] == ["sms"]
    assert count_outbox(okit) == 0


# send ------------------------------------------------------------------------------------


def test_send_replies_on_a_case(okit: Omnikit, clock: Clock) -> None:
    c = jan(okit)
    mail = okit.record(
        customer=c,
        channel="email",
        direction="inbound",
        kind="message",
        text="Where is my order?",
        external_id="<abc@mail.example>",
    )
    case = okit.cases.open(customer=c.id, subject="Order", interaction=mail.id)
    okit.preferences.set(
        c.id, quiet_hours=QuietHours(start=time(0), end=time(23, 59), timezone="UTC")
    )
    delivery = okit.send(c.id, "email", "It ships today.", case=case.id, agent="ann")
    assert delivery.outcome is DeliveryOutcome.QUEUED  # replies ignore quiet hours
    item = okit.outbox.get(delivery.outbox_id or "")
    assert item.payload["message"]["reply_to"] == "<abc@mail.example>"  # type: ignore[index]
    reply = okit.journey(c.id).steps[-1]
    assert (reply.case_id, reply.agent, reply.purpose) == (case.id, "ann", ("service",))
    okit.consent.revoke(c.id, purpose="service", channel="email", source="complaint")
    refused = okit.send(c.id, "email", "Another one", case=case.id)
    assert refused.outcome is DeliveryOutcome.SKIPPED and "opted out" in refused.reason
    with pytest.raises(NotFoundError):
        okit.send(c.id, "email", "x", case="01a00000-0000-7000-8000-000000000000")


# fallback and the worker -----------------------------------------------------------------


def provider(answers: dict[str, httpx.Response]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        return answers.get(request.url.host, httpx.Response(200, json={"id": "ok"}))

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_permanent_failure_falls_back_to_the_next_channel(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["app", "sms"]})
    okit.notify(c.id, "Shipped", purpose="order_updates")
    client = provider({"push.test": httpx.Response(400, json={"error": "unknown device"})})
    result = okit.outbox.run_once(client=client)
    assert (result.dead, result.fell_back) == (1, 1)
    [dead] = okit.outbox.dead()
    assert dead.channel == "app" and "400" in (dead.last_error or "")
    [next_item] = okit.outbox.pending()
    assert next_item.channel == "sms" and next_item.fallback == ()
    assert next_item.notification_id == dead.notification_id
    steps = okit.journey(c.id).steps
    assert [(s.channel, s.status) for s in steps] == [
        ("app", DeliveryStatus.FAILED),
        ("sms", DeliveryStatus.QUEUED),
    ]


def test_sent_message_records_the_provider_id(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["app"]})
    okit.notify(c.id, "Shipped", purpose="order_updates")
    client = provider({"push.test": httpx.Response(200, json={"id": "push-77"})})
    assert okit.outbox.run_once(client=client).sent == 1
    step = okit.journey(c.id).steps[-1]
    assert (step.status, step.external_id) == (DeliveryStatus.SENT, "push-77")
    assert okit.outbox.pending() == []
    with pytest.raises(ConflictError, match="only dead items"):
        okit.outbox.retry(step.metadata["outbox_id"])  # type: ignore[arg-type]


def test_erasure_cancels_queued_messages(okit: Omnikit) -> None:
    c = jan(okit)
    result = okit.notify(c.id, "Hello", purpose="service")
    okit.customers.erase(c.id, reason="customer request")
    item = okit.outbox.get(result.queued[0].outbox_id or "")
    assert item.status.value == "cancelled" and item.payload == {}
    assert okit.outbox.run_once().claimed == 0


def test_consent_withdrawn_under_a_merged_id_holds(okit: Omnikit) -> None:
    a = okit.customers.identify(email="a@example.nl")
    b = okit.customers.identify(phone="0687654321")
    okit.consent.revoke(b.id, purpose="service", channel="sms", source="STOP")
    okit.customers.merge(a.id, b.id, reason="same person")
    okit.preferences.set(a.id, channels={"service": ["sms", "email"]})
    result = okit.notify(a.id, "Hi", purpose="service")
    assert outcomes(result) == [("sms", "skipped"), ("email", "queued")]


def test_a_later_bounce_report_falls_back(okit: Omnikit, clock: Clock) -> None:
    import json

    from omnikit import InboundRequest
    from omnikit.adapters.webhook import sign

    c = jan(okit)
    okit.preferences.set(c.id, channels={"order_updates": ["app", "email"]})
    okit.notify(c.id, "Shipped", purpose="order_updates")
    client = provider({"push.test": httpx.Response(200, json={"id": "push-9"})})
    assert okit.outbox.run_once(client=client).sent == 1
    assert okit.outbox.pending() == []
    body = json.dumps(
        {
            "type": "status",
            "id": "push-9",
            "status": "failed",
            "metadata": {"error": "device unregistered"},
        }
    ).encode()
    headers = {"content-type": "application/json"} | sign(SECRET, body, int(clock.now.timestamp()))
    request = InboundRequest(
        method="POST",
        url="http://h/webhooks/app",
        headers=headers,
        body=body,
        received_at=clock.now,
    )
    result = okit.receive("app", request)
    assert [i.status for i in result.updated] == [DeliveryStatus.FAILED]
    [fallback] = okit.outbox.pending()
    assert fallback.channel == "email"
    again = okit.receive("app", request)  # a repeated report falls back only once
    assert not again.updated
    assert len(okit.outbox.pending()) == 1


def test_what_an_adapter_refuses_is_skipped_at_decision_time(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"service": ["sms", "email"]})
    message = Message(body="Your code is 1234", template="verification_code")
    result = okit.notify(c.id, message, purpose="service")
    assert outcomes(result) == [("sms", "skipped"), ("email", "queued")]
    assert result.deliveries[0].reason.startswith("the twilio adapter cannot send it:")
    assert "ContentSid" in result.deliveries[0].reason
    item = okit.outbox.get(result.deliveries[1].outbox_id or "")
    assert item.payload["message"]["template"] is None  # type: ignore[index]


def test_an_invalid_number_is_marked_undeliverable_and_falls_back(okit: Omnikit) -> None:
    c = jan(okit)
    okit.preferences.set(c.id, channels={"service": ["sms", "email"]})
    okit.notify(c.id, "Your parcel is ready", purpose="service")
    invalid = httpx.Response(
        400,
        json={
            "code": 21211,
            "message": "The 'To' number is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )
    result = okit.outbox.run_once(client=provider({"api.twilio.com": invalid}))
    assert (result.dead, result.fell_back) == (1, 1)
    assert [i.channel for i in okit.outbox.pending()] == ["email"]
    assert not okit.customers.deliverable(c.id, "sms")
    later = okit.notify(c.id, "Again", purpose="service")
    assert later.deliveries[0].reason.startswith("phone identity marked undeliverable: ")


def test_telegram_is_sent_to_the_chat_id(okit: Omnikit) -> None:
    okit.adapters.use("telegram", secret_token="s" * 16, bot_token="123:abc")
    c = okit.customers.identify(handles={"telegram": "jan_j"}, external_ids={"telegram": "4242"})
    okit.preferences.set(c.id, channels={"service": ["telegram"]})
    [delivery] = okit.notify(c.id, "Hi", purpose="service").deliveries
    assert (delivery.outcome, delivery.to) == (DeliveryOutcome.QUEUED, "4242")
    handle_only = okit.customers.identify(handles={"telegram": "piet_p"})
    okit.preferences.set(handle_only.id, channels={"service": ["telegram"]})
    [skipped] = okit.notify(handle_only.id, "Hi", purpose="service").deliveries
    assert skipped.outcome is DeliveryOutcome.SKIPPED
    assert skipped.reason.startswith("the telegram adapter cannot address the customer")
