"""Scenario 2: a letter comes back "return to sender"; the person complains on X.

Letters went to an address where the customer no longer lives. The returned letter
is recorded on the post channel, which marks the address undeliverable: no more post
goes there. When the person complains on Twitter/X, the webcare agent recognises them
through their e-mail address and sees the returned post first thing on the card.

Run it: python examples/scenario2_returned_post.py
"""

from datetime import UTC, datetime, timedelta

from omnikit import BaseAdapter, Omnikit, OutboundMessage, OutboundPayload


class PrintShop(BaseAdapter):
    """Letters go out through a print-and-mail service's API."""

    name = "printshop"
    channel = "post"

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        return [
            OutboundPayload(
                method="POST",
                url="https://print.example.com/letters",
                body=f"{message.to}\n\n{message.text}".encode(),
            )
        ]


day = timedelta(days=1)
start = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
kit = Omnikit("sqlite:///scenario2.db", default_region="NL")

piet = kit.customers.identify(
    name="Piet de Vries",
    email="piet.devries@example.nl",
    address="Kerkstraat 1, 1017 GA Amsterdam",
    source="import",
)
kit.record(
    customer=piet,
    channel="post",
    direction="outbound",
    kind="letter",
    subject="Your new loyalty card",
    external_id="letter-2026-0401",
    occurred_at=start,
)

# A week later the letter comes back from the postal service.
kit.record(
    customer=piet,
    channel="post",
    direction="inbound",
    kind="returned_mail",
    text="Return to sender: addressee moved",
    external_id="return-2026-0408",
    occurred_at=start + 7 * day,
    metadata={"address": "Kerkstraat 1, 1017 GA Amsterdam", "reason": "addressee moved"},
)
print("Post deliverable:", kit.customers.deliverable(piet.id, "post"))


# Two days later Piet complains on X; the webcare tool passes his handle and the
# e-mail address he gives in a direct message.
webcare = kit.customers.identify(
    handles={"twitter": "@PietDV"}, email="Piet.deVries@example.nl", source="twitter"
)
kit.record(
    customer=webcare,
    channel="twitter",
    direction="inbound",
    kind="message",
    text="@shop where is my loyalty card?!",
    external_id="tweet-1777",
    occurred_at=start + 9 * day,
)
card = kit.customer_card(webcare)
print("Webcare sees:", card.customer.name)
for alert in card.alerts:
    print("  !", alert)
print("Journey:", " → ".join(kit.journey(webcare).channels))

# The shop writes again: not by post any more, the message falls to e-mail.
kit.adapters.use(PrintShop())
kit.adapters.use("email", sender="Shop <service@shop.example>", smtp_host="127.0.0.1")
kit.preferences.set(piet.id, channels={"service": ["post", "email"]})
notice = kit.notify(piet.id, "Your loyalty card is on its way.", purpose="service")
for delivery in notice.deliveries:
    print(f"  {delivery.channel}: {delivery.outcome.value} ({delivery.reason})")
assert [d.outcome.value for d in notice.deliveries][:2] == ["skipped", "queued"]

# The agent asks for the new address; post can go out again.
kit.customers.add_identity(
    webcare.id, address="Damrak 1, 1012 AB Amsterdam", source="twitter", verified=True
)
print("Post deliverable after the new address:", kit.customers.deliverable(piet.id, "post"))
again = kit.notify(piet.id, "Your loyalty card, sent to your new address.", purpose="service")
print("  next letter goes by:", again.channels, "to", again.queued[0].to)
assert again.channels == ["post"]
assert webcare.id == piet.id
assert card.recent[1].kind == "returned_mail"
kit.close()
