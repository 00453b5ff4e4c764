"""Property test: for random preferences, consents, clocks and histories, ``notify``
never queues to an opted-out channel, inside quiet hours (unless critical), above a
frequency cap (unless critical), or to an undeliverable address.

Each rule is checked against the stored facts, computed here independently of the
decision code: the consent history, the outbox's own items and the quiet hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnikit import (
    BaseAdapter,
    Cap,
    DeliveryOutcome,
    Omnikit,
    OutboundMessage,
    OutboundPayload,
    Policy,
    QuietHours,
)

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
CHANNELS = ("sms", "email", "app", "post")
PURPOSES = ("order_updates", "marketing")
ZONES = ("Europe/Amsterdam", "Europe/Warsaw", "America/New_York", "UTC")


class PrintShop(BaseAdapter):
    """Letters go to a print-and-mail service's API."""

    name = "printshop"
    channel = "post"

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        return [
            OutboundPayload(
                method="POST", url="http://print.test/letters", body=(message.text or "").encode()
            )
        ]


consent_record = st.tuples(
    st.booleans(),
    st.sampled_from((*PURPOSES, "*")),
    st.sampled_from((*CHANNELS, "*")),
    st.integers(0, 7 * 24),
)


@st.composite
def situations(draw: st.DrawFn) -> dict[str, object]:
    return {
        "purpose": draw(st.sampled_from(PURPOSES)),
        "order": draw(st.lists(st.sampled_from(CHANNELS), unique=True, min_size=1)),
        "quiet": draw(
            st.none()
            | st.tuples(st.integers(0, 23), st.integers(0, 23), st.sampled_from(ZONES)).filter(
                lambda q: q[0] != q[1]
            )
        ),
        "consents": draw(st.lists(consent_record, max_size=6)),
        "returned": draw(st.booleans()),
        "caps": draw(
            st.lists(
                st.tuples(st.integers(1, 3), st.integers(1, 7), st.sampled_from((None, *CHANNELS))),
                max_size=2,
            )
        ),
        "history": draw(st.lists(st.integers(0, 7 * 24), max_size=6)),
        "now": draw(st.integers(7 * 24, 8 * 24 - 1)),
        "minute": draw(st.integers(0, 59)),
        "critical": draw(st.booleans()),
        "reach": draw(st.sampled_from(("first", "all"))),
    }


def latest(records: list[tuple[bool, str, str, datetime]], purpose: str, channel: str):  # type: ignore[no-untyped-def]
    found = None
    for granted, p, c, at in records:  # in the order given, which is time order
        if p in (purpose, "*") and c in (channel, "*") and (found is None or at >= found[1]):
            found = (granted, at)
    return None if found is None else found[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_notify_never_breaks_a_rule(case: dict[str, object]) -> None:
    now_box = [START]
    kit = Omnikit("sqlite:///:memory:", default_region="NL", clock=lambda: now_box[0])
    try:
        _check(kit, now_box, case)
    finally:
        kit.close()


def _check(kit: Omnikit, now_box: list[datetime], case: dict[str, object]) -> None:
    purpose = str(case["purpose"])
    kit.adapters.use(
        "webhook",
        secret="whsec-0123456789abcdef",
        channel="app",
        name="app",
        outbound_url="http://push.test/send",
    )
    kit.adapters.use("email", sender="Shop <s@shop.example>", smtp_host="127.0.0.1")
    kit.adapters.use(
        "twilio", account_sid="AC" + "0" * 32, auth_token="1" * 32, from_number="+3197010000000"
    )
    kit.adapters.use(PrintShop())
    caps = tuple(Cap(limit=n, per=timedelta(days=d), channel=c) for n, d, c in case["caps"])  # type: ignore[attr-defined]
    kit.policies.set(
        Policy(
            purpose=purpose,
            consent_required=purpose == "marketing",
            caps=caps,
            reach=case["reach"],
            channels=CHANNELS,
        )
    )  # type: ignore[arg-type]
    customer = kit.customers.identify(
        email="c@example.nl",
        phone="0612345678",
        external_ids={"app": "u1"},
        address="Kerkstraat 1, 1017 GA Amsterdam",
    )
    quiet = None
    if case["quiet"] is not None:
        start, end, zone = case["quiet"]  # type: ignore[misc]
        quiet = QuietHours(start=time(start), end=time(end), timezone=zone)
    kit.preferences.set(customer.id, channels={purpose: case["order"]}, quiet_hours=quiet)  # type: ignore[dict-item]
    events: list[tuple[int, str, object]] = [
        (h, "consent", r)
        for r in case["consents"]  # type: ignore[attr-defined]
        for h in [r[3]]
    ]
    events += [(h, "history", None) for h in case["history"]]  # type: ignore[attr-defined]
    if case["returned"]:
        events.append((3, "returned", None))
    records: list[tuple[bool, str, str, datetime]] = []
    for hours, what, record in sorted(events, key=lambda e: (e[0], e[1])):
        now_box[0] = START + timedelta(hours=hours)
        if what == "consent":
            granted, p, c, _ = record  # type: ignore[misc]
            if granted and p == "*":
                continue  # only withdrawals cover every purpose
            method = kit.consent.grant if granted else kit.consent.revoke
            method(customer.id, purpose=p, channel=c, source="property test")
            records.append((granted, p, c, now_box[0]))
        elif what == "history":
            kit.notify(customer.id, "earlier", purpose=purpose, critical=True)
        else:
            kit.record(
                customer=customer,
                channel="post",
                direction="inbound",
                kind="returned_mail",
                text="Return to sender",
            )
    now = START + timedelta(hours=case["now"], minutes=case["minute"])  # type: ignore[operator]
    now_box[0] = now
    with kit.store.transaction() as tx:
        before = tx.outbox_items(None, 10_000)
    result = kit.notify(customer.id, "Now", purpose=purpose, critical=bool(case["critical"]))
    critical = bool(case["critical"])
    for delivery in result.queued:
        channel = delivery.channel
        consent = latest(records, purpose, channel)
        assert consent is not False, f"queued to {channel} after an opt-out"
        if purpose == "marketing":
            assert consent is True, f"marketing queued to {channel} without consent"
        if channel == "post":
            assert not case["returned"], "post queued to an undeliverable address"
        if quiet is not None and not critical:
            until = quiet.until(now)
            assert delivery.until == until, f"{channel}: quiet hours ignored at {now}"
            assert (delivery.outcome is DeliveryOutcome.DEFERRED) == (until is not None)
        if not critical:
            live = [i for i in before if i.status.value in ("queued", "sent")]
            for cap in caps:
                if cap.channel not in (None, channel):
                    continue
                since = now - cap.per
                if cap.channel is None:
                    count = len({i.notification_id for i in live if i.created_at > since})
                else:
                    count = sum(1 for i in live if i.channel == channel and i.created_at > since)
                assert count < cap.limit, f"{channel}: cap {cap} exceeded ({count})"
    for delivery in result.deliveries:
        if delivery.outcome is DeliveryOutcome.SKIPPED:
            assert delivery.reason
