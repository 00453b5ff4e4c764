"""Recognition: identities with provenance, caller ID, the card's alerts, merges,
returned post (scenario 2) and privacy."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from omnikit import ConflictError, IdentityKind, Omnikit


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


# identities with provenance ---------------------------------------------------------------


def test_add_identity_keeps_source_and_verification(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", source="webshop")
    assert jan.identities[0].source == "webshop"
    jan = kit.customers.add_identity(jan.id, phone="06 12345678", verified=True, source="manual")
    phone = next(i for i in jan.identities if i.kind is IdentityKind.PHONE)
    assert (phone.value, phone.verified, phone.source, phone.raw) == (
        "+31612345678",
        True,
        "manual",
        "06 12345678",
    )
    # adding it again verifies, never duplicates
    again = kit.customers.add_identity(jan.id, email="JAN@example.nl", verified=True)
    emails = [i for i in again.identities if i.kind is IdentityKind.EMAIL]
    assert len(emails) == 1 and emails[0].verified
    assert [e.type for e in kit.customers.history(jan.id)] == ["identity_added"]


def test_remove_identity(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", phone="020 123 4567")
    phone = next(i for i in jan.identities if i.kind is IdentityKind.PHONE)
    after = kit.customers.remove_identity(phone.id, actor="ann")
    assert [i.kind for i in after.identities] == [IdentityKind.EMAIL]
    assert kit.customers.find(phone="020 123 4567") is None
    assert kit.customers.history(jan.id)[-1].type == "identity_removed"


def test_a_value_of_another_customer_needs_shared(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", phone="020 123 4567")
    marie = kit.customers.identify(email="marie@example.nl")
    with pytest.raises(ConflictError, match="shared=True"):
        kit.customers.add_identity(marie.id, phone="020 123 4567")
    kit.customers.add_identity(marie.id, phone="020 123 4567", shared=True)
    # both hold it now, both marked shared; the number alone no longer decides
    for who in (jan, marie):
        phone = next(
            i for i in kit.customers.get(who.id).identities if i.kind is IdentityKind.PHONE
        )
        assert phone.shared
    match = kit.caller_id("020 123 4567")
    assert match.status == "ambiguous"
    assert {c.id for c in match.candidates} == {jan.id, marie.id}
    # the number with the e-mail still finds Jan
    assert kit.customers.identify(phone="020 123 4567", email="jan@example.nl").id == jan.id


# caller ID -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["020 123 4567", "020-1234567", "+31 20 123 4567", "0031 20 123 4567", "(020) 123.45.67"],
)
def test_caller_id_recognises_any_written_form(kit: Omnikit, written: str) -> None:
    jan = kit.customers.identify(phone="+31201234567", name="Jan")
    kit.record(customer=jan.id, channel="webshop", direction="inbound", kind="order")
    match = kit.caller_id(written)
    assert match.status == "known"
    assert match.customer is not None and match.customer.id == jan.id
    assert match.card is not None and match.card.recent[0].kind == "order"
    assert match.number == "+31201234567"


def test_caller_id_region_comes_from_the_call_not_a_fixed_country(kit: Omnikit) -> None:
    ola = kit.customers.identify(phone="+48 22 123 45 67")
    assert kit.caller_id("22 123 45 67", region="PL").status == "known"
    assert kit.caller_id("22 123 45 67").status == "unknown"  # the kit reads NL
    assert kit.caller_id("+48 22 123 45 67").customer.id == ola.id  # type: ignore[union-attr]


@pytest.mark.parametrize("caller", [None, "", "anonymous", "withheld", "+", "++31 20", "x" * 300])
def test_withheld_or_garbage_caller_id_is_unknown(kit: Omnikit, caller: str | None) -> None:
    kit.customers.identify(phone="020 123 4567")
    match = kit.caller_id(caller)
    assert (match.status, match.customer, match.number) == ("unknown", None, None)


def test_unknown_number(kit: Omnikit) -> None:
    match = kit.caller_id("020 765 4321")
    assert (match.status, match.number, match.candidates) == ("unknown", "+31207654321", ())


# the card -------------------------------------------------------------------------------------


def test_card_alerts_and_json(store_url: str) -> None:
    clock = Clock()
    with Omnikit(store_url, default_region="NL", clock=clock) as kit:
        jan = kit.customers.identify(email="jan@example.nl", name="Jan")
        case = kit.cases.open(customer=jan.id, subject="Broken drill")
        clock.at += timedelta(days=1)
        kit.customers.add_identity(jan.id, phone="06 12345678")
        card = kit.customer_card(jan.id)
        assert card.alerts == (
            "Case 'Broken drill' waits on us (new, not assigned, opened 24 hours ago).",
            "Unverified phone +31612345678 was added less than an hour ago.",
        )
        kit.cases.transition(case.id, "pending")
        clock.at += timedelta(days=5)
        assert kit.customer_card(jan.id).alerts == ()  # pending waits on the customer
        later = kit.customer_card(jan.id)
        assert later.age(later.open_cases[0]) == timedelta(days=6)
        data = json.loads(json.dumps(later.to_dict()))
        assert data["open_cases"][0]["status"] == "pending"
        assert data["open_cases"][0]["age_seconds"] == 6 * 86_400
        assert data["identities"][1]["verified"] is False


# scenario 2: returned post --------------------------------------------------------------------


def test_returned_post_is_seen_by_the_webcare_agent(store_url: str) -> None:
    with Omnikit(store_url, default_region="NL") as kit:
        piet = kit.customers.identify(
            name="Piet", email="piet@example.nl", address="Kerkstraat 1, 1017 GA Amsterdam"
        )
        assert kit.customers.deliverable(piet.id, "post")
        kit.record(
            customer=piet.id,
            channel="post",
            direction="outbound",
            kind="letter",
            subject="Your new card",
            external_id="letter-1",
        )
        kit.record(
            customer=piet.id,
            channel="post",
            direction="inbound",
            kind="returned_mail",
            text="Return to sender: addressee unknown",
            external_id="return-1",
            metadata={"address": "kerkstraat 1\n1017ga AMSTERDAM"},
        )
        assert not kit.customers.deliverable(piet.id, "post")
        assert kit.customers.deliverable(piet.id, "email")
        # on Twitter/X: the handle joins the same customer through the e-mail
        webcare = kit.customers.identify(handles={"twitter": "@PietP"}, email="piet@example.nl")
        assert webcare.id == piet.id
        card = kit.customer_card(webcare.id)
        assert card.recent[0].kind == "returned_mail"
        assert card.alerts[0].startswith(
            "Post to KERKSTRAAT 1 1017 GA AMSTERDAM, NL is undeliverable: returned to sender"
        )
        # a new address makes post deliverable again and clears nothing old
        kit.customers.add_identity(piet.id, address="Damrak 1, 1012 AB Amsterdam")
        assert kit.customers.deliverable(piet.id, "post")
        postal = {
            i.value: i.undeliverable
            for i in kit.customers.get(piet.id).identities
            if i.kind is IdentityKind.POSTAL
        }
        assert postal == {
            "KERKSTRAAT 1 1017 GA AMSTERDAM, NL": True,
            "DAMRAK 1 1012 AB AMSTERDAM, NL": False,
        }


def test_returned_post_without_address_marks_the_current_one(kit: Omnikit) -> None:
    piet = kit.customers.identify(address="Kerkstraat 1, 1017 GA Amsterdam")
    kit.customers.add_identity(piet.id, address="Damrak 1, 1012 AB Amsterdam")
    kit.record(customer=piet.id, channel="post", direction="inbound", kind="returned_mail")
    marked = [i.value for i in kit.customers.get(piet.id).identities if i.undeliverable]
    assert marked == ["DAMRAK 1 1012 AB AMSTERDAM, NL"]


def test_returned_post_to_an_address_unknown_to_the_customer_adds_it(kit: Omnikit) -> None:
    piet = kit.customers.identify(email="piet@example.nl")
    kit.record(
        customer=piet.id,
        channel="post",
        direction="inbound",
        kind="returned_mail",
        metadata={"address": "Kerkstraat 1, 1017 GA Amsterdam"},
    )
    (postal,) = [i for i in kit.customers.get(piet.id).identities if i.kind is IdentityKind.POSTAL]
    assert postal.undeliverable and postal.source == "post"
    assert not kit.customers.deliverable(piet.id, "post")


def test_deliverable_follows_the_channels_identity_kind(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", handles={"twitter": "janj"})
    assert kit.customers.deliverable(jan.id, "twitter")
    assert not kit.customers.deliverable(jan.id, "instagram")
    assert not kit.customers.deliverable(jan.id, "sms")  # no phone
    assert not kit.customers.deliverable(jan.id, "store")  # no outbound contact


# merges -----------------------------------------------------------------------------------------


def test_merge_moves_everything_and_unmerge_puts_it_back(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", phone="020 123 4567")
    dup = kit.customers.identify(email="j.jansen@example.nl", handles={"twitter": "janj"})
    kit.record(customer=jan.id, channel="phone", direction="inbound", kind="call")
    tweet = kit.record(customer=dup.id, channel="twitter", direction="inbound", kind="message")
    case = kit.cases.open(customer=dup.id, subject="Where is my parcel?", interaction=tweet)

    merge = kit.customers.merge(
        jan.id, dup.id, reason="same person (called about tweet)", actor="ann"
    )
    assert kit.customers.get(dup.id).id == jan.id
    assert kit.customers.find(handles={"twitter": "janj"}).id == jan.id  # type: ignore[union-attr]
    assert {s.channel for s in kit.journey(dup.id).steps} == {"phone", "twitter"}
    assert kit.cases.get(case.id).customer_id == jan.id
    assert len(merge.moved.identities) == 2 and merge.moved.cases == (case.id,)
    assert [e.type for e in kit.customers.history(jan.id)] == ["merged"]

    undone = kit.customers.unmerge(merge.id, actor="lead", reason="different people after all")
    assert undone.undone_by == "lead"
    assert kit.customers.get(dup.id).id == dup.id
    assert [s.channel for s in kit.journey(dup.id).steps] == ["twitter"]
    assert kit.cases.get(case.id).customer_id == dup.id
    assert [e.type for e in kit.customers.history(dup.id)] == ["merged", "unmerged"]


# privacy ----------------------------------------------------------------------------------------


def test_export_holds_everything(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", name="Jan")
    kit.record(customer=jan.id, channel="sms", direction="inbound", kind="message", text="hoi")
    case = kit.cases.open(customer=jan.id, subject="Question")
    data = json.loads(json.dumps(kit.customers.export(jan.id)))
    assert data["customer"]["name"] == "Jan"
    assert data["interactions"][0]["text"] == "hoi"
    assert data["cases"][0]["id"] == case.id
    assert data["cases"][0]["history"][0]["type"] == "opened"


SECRETS = [
    "Jansen-Erasable",
    "erasable@example.nl",
    "+31612345678",
    "Secret Street 9",
    "a very private message",
    "Private subject",
    "C-ERASE-1",
]


def test_erase_leaves_anonymous_facts_only(tmp_path: Path) -> None:
    path = tmp_path / "erase.db"
    with Omnikit(f"sqlite:///{path}", default_region="NL") as kit:
        jan = kit.customers.identify(
            name="Jansen-Erasable",
            email="erasable@example.nl",
            phone="06 12345678",
            address="Secret Street 9, 1234 AB Amsterdam",
            external_ids={"webshop": "C-ERASE-1"},
        )
        kit.record(
            customer=jan.id,
            channel="sms",
            direction="inbound",
            kind="message",
            text="a very private message",
            subject="Private subject",
            metadata={"note": "erasable@example.nl"},
        )
        case = kit.cases.open(customer=jan.id, subject="Private subject")
        kit.cases.transition(case.id, "resolved", note="called +31612345678")
        other = kit.customers.identify(email="someone@example.nl", name="Someone Else")

        kit.customers.erase(jan.id, reason="GDPR request 2026-17", actor="privacy-officer")

        assert kit.customers.find(email="erasable@example.nl") is None
        assert kit.customers.find(phone="06 12345678") is None
        assert kit.customers.find(external_ids={"webshop": "C-ERASE-1"}) is None
        (step,) = kit.journey(jan.id).steps
        assert (step.channel, step.kind, step.direction, step.text, step.metadata) == (
            "sms",
            "message",
            "inbound",
            None,
            {},
        )
        assert kit.cases.get(case.id).status == "resolved"
        assert kit.customers.get(other.id).name == "Someone Else"
        assert kit.customers.history(jan.id)[-1].reason == "GDPR request 2026-17"
        with pytest.raises(ConflictError, match="already erased"):
            kit.customers.erase(jan.id, reason="again")
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in data, secret
    assert b"Someone Else" in data  # the file is readable: the check would see the strings
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()


def test_last_seen_moves_when_the_customer_is_recognised_a_day_later(store_url: str) -> None:
    clock = Clock()
    with Omnikit(store_url, default_region="NL", clock=clock) as kit:
        jan = kit.customers.identify(phone="020 123 4567")
        first = jan.identities[0].last_seen_at
        clock.at += timedelta(hours=5)
        assert kit.customers.identify(phone="020 123 4567").identities[0].last_seen_at == first
        clock.at += timedelta(days=1)
        seen = kit.customers.identify(phone="020 123 4567").identities[0]
        assert (seen.first_seen_at, seen.last_seen_at) == (first, clock.at)


def test_cases_of_a_merged_customer_go_to_the_survivor(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    dup = kit.customers.identify(email="j@example.nl")
    kit.customers.merge(jan.id, dup.id, reason="same person")
    case = kit.cases.open(customer=dup.id, subject="Opened through the old id")
    assert case.customer_id == jan.id
    assert [c.id for c in kit.cases.list(customer=dup.id)] == [case.id]


def test_returned_post_to_another_customers_address_marks_nothing(kit: Omnikit) -> None:
    kit.customers.identify(email="marie@example.nl", address="Kerkstraat 1, 1017 GA Amsterdam")
    piet = kit.customers.identify(email="piet@example.nl")
    letter = kit.record(
        customer=piet.id,
        channel="post",
        direction="inbound",
        kind="returned_mail",
        metadata={"address": "Kerkstraat 1, 1017 GA Amsterdam"},
    )
    assert letter.kind == "returned_mail"
    marie = kit.customers.find(email="marie@example.nl")
    assert marie is not None and kit.customers.deliverable(marie.id, "post")
    assert kit.customers.get(piet.id).values("postal") == []
