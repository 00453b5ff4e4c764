"""Scenario 3: the customer chose app + e-mail for order updates.

Confirmations go to exactly those channels: the app first, e-mail when the app cannot
be used or fails for good; never more often than the frequency cap (3 a week), never
in the customer's quiet hours (22:00-08:00 in Amsterdam: deferred to the morning), and
never to a channel they opted out of. A worker sends what the outbox holds.

The providers here are stand-ins (an ``httpx.MockTransport``): an app push service
that knows user-1 until it reports the device gone. Run it:

    python examples/scenario3_notifications.py
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import httpx

from omnikit import Cap, Message, Omnikit, Policy, QuietHours

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Amsterdam

CONFIRMATION = Message(
    subject="Order {{ order }} confirmed",
    body="Thank you! Order {{ order }} is confirmed and ships tomorrow.",
    translations={
        "nl": {  # type: ignore[dict-item]
            "subject": "Bestelling {{ order }} bevestigd",
            "body": "Dank je! Bestelling {{ order }} is bevestigd en wordt morgen verzonden.",
        }
    },
)


def push_service(request: httpx.Request) -> httpx.Response:
    """The app's push service: device gone for user-2, accepted otherwise."""
    if b'"user-2"' in request.content:
        return httpx.Response(410, json={"error": "device unregistered"})
    return httpx.Response(202, json={"id": f"push-{len(request.content)}"})


def run(url: str) -> dict[str, object]:
    now = [START]
    kit = Omnikit(url, default_region="NL", clock=lambda: now[0])
    kit.adapters.use(
        "webhook",
        name="app",
        channel="app",
        secret="push-secret-0123456789",
        outbound_url="https://push.example.com/send",
    )
    kit.adapters.use("email", sender="Shop <service@shop.example>", smtp_host="127.0.0.1")
    kit.policies.set(Policy(purpose="order_updates", caps=(Cap(limit=3, per=timedelta(days=7)),)))
    client = httpx.Client(transport=httpx.MockTransport(push_service))

    jan = kit.customers.identify(
        name="Jan",
        email="jan@example.nl",
        phone="06 12345678",
        external_ids={"app": "user-1"},
        language="nl",
    )
    kit.preferences.set(
        jan.id,
        channels={"order_updates": ["app", "email"]},
        quiet_hours=QuietHours(start=time(22), end=time(8), timezone="Europe/Amsterdam"),
    )
    kit.consent.revoke(jan.id, purpose="order_updates", channel="sms", source="app settings")

    seen: dict[str, object] = {}
    # 1. A confirmation at 10:00: the app gets it, in Dutch; e-mail is kept for fallback.
    first = kit.notify(jan.id, CONFIRMATION, purpose="order_updates", data={"order": "1001"})
    print("10:00", [(d.channel, d.outcome.value) for d in first.deliveries])
    seen["first"] = first.channels
    kit.outbox.run_once(client=client)
    print("  app got:", kit.journey(jan.id).steps[-1].text)

    # 2. At 23:30 the next one waits for the end of the quiet hours (08:00).
    now[0] = START + timedelta(hours=13, minutes=30)
    late = kit.notify(jan.id, CONFIRMATION, purpose="order_updates", data={"order": "1002"})
    [deferred] = late.deliveries[:1]
    print("23:30", deferred.channel, deferred.outcome.value, "-", deferred.reason)
    seen["deferred_until"] = deferred.until
    assert kit.outbox.run_once(client=client).sent == 0  # not yet
    now[0] = START + timedelta(days=1)  # 10:00 next day
    assert kit.outbox.run_once(client=client).sent == 1

    # 3. A third one is allowed; the fourth within a week hits the cap.
    kit.notify(jan.id, CONFIRMATION, purpose="order_updates", data={"order": "1003"})
    capped = kit.notify(jan.id, CONFIRMATION, purpose="order_updates", data={"order": "1004"})
    print("cap:", capped.deliveries[0].reason)
    seen["capped"] = [d.outcome.value for d in capped.deliveries]

    # 4. Anna's app device is gone: the push fails for good and e-mail takes over.
    anna = kit.customers.identify(
        name="Anna", email="anna@example.nl", external_ids={"app": "user-2"}
    )
    kit.preferences.set(anna.id, channels={"order_updates": ["app", "email"]})
    kit.notify(anna.id, CONFIRMATION, purpose="order_updates", data={"order": "2001"})
    result = kit.outbox.run_once(client=client)
    print(
        "anna: app dead, fell back:",
        result.fell_back,
        "->",
        [i.channel for i in kit.outbox.pending()],
    )
    seen["fallback"] = [i.channel for i in kit.outbox.pending()]
    seen["journey"] = kit.journey(jan.id).channels
    kit.close()
    return seen


if __name__ == "__main__":
    outcome = run("sqlite:///scenario3.db")
    assert outcome["first"] == ["app"]
    assert outcome["capped"] == ["skipped", "skipped"]
    assert outcome["fallback"] == ["email"]
