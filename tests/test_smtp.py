"""The SMTP receiver: real mail over a real aiosmtpd server on 127.0.0.1, into the kit.

Each test runs on every store backend: smtplib delivers a message, the receiver hands
it to the ``email`` adapter signed with its secret, and the SMTP reply says whether
the sending server may forget the message (250), must try again later (451) or must
bounce it (554).
"""

from __future__ import annotations

import re
import smtplib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnikit import Omnikit, StoreError, ValidationError
from omnikit.smtp import SmtpReceiver
from tests.mail_samples import PLAIN, REPLY

SECRET = "relay-secret-0123456789abcdef"
SHOP = "service@shop.example.nl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def receiver(kit: Omnikit) -> Iterator[SmtpReceiver]:
    """A running receiver for ``kit``'s ``email`` adapter on a free loopback port."""
    kit.adapters.use("email", secret=SECRET)
    with SmtpReceiver(kit, port=free_port()) as running:
        yield running


def send(receiver: SmtpReceiver, raw: bytes, *, sender: str = "jan@example.nl") -> None:
    with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as client:
        client.sendmail(sender, [SHOP], raw)


def test_mail_is_recorded_on_the_customer_it_comes_from(
    kit: Omnikit, receiver: SmtpReceiver
) -> None:
    jan = kit.customers.identify(email="jan@example.nl", name="Jan")
    send(receiver, PLAIN)  # From: Jan de Vries <JAN@Example.NL>
    [interaction] = kit.journey(jan.id).steps
    assert (interaction.channel, interaction.direction, interaction.kind) == (
        "email",
        "inbound",
        "email",
    )
    assert interaction.external_id == "CAKx7Pm1-q2bV0dZ@mail.example.nl"
    assert interaction.subject == "Waar blijft mijn bestelling 1001?"
    assert "Café om de hoek" in (interaction.text or "")
    # the sending server retries (a lost 250): recorded once
    send(receiver, PLAIN)
    assert len(kit.journey(jan.id).steps) == 1


def test_reply_joins_the_case_of_the_mail_it_answers(kit: Omnikit, receiver: SmtpReceiver) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    confirmation = kit.record(
        customer=jan,
        channel="email",
        direction="outbound",
        kind="email",
        subject="Uw bestelling 1001",
        external_id="a1b2c3d4-0000-4000-8000-000000000001@shop.example.nl",
    )
    case = kit.cases.open(customer=jan.id, subject="Bestelling 1001", interaction=confirmation.id)
    kit.cases.open(customer=jan.id, subject="Retour 998")  # a second open case
    send(receiver, REPLY)
    [reply] = [step for step in kit.journey(jan.id).steps if step.direction == "inbound"]
    assert reply.external_id == "CAKx7Pm9-reply@mail.example.nl"
    assert reply.case_id == case.id


def test_store_failure_is_a_temporary_error_and_the_retry_records_once(
    kit: Omnikit, receiver: SmtpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    jan = kit.customers.identify(email="jan@example.nl")

    def store_down(*_: object, **__: object) -> None:
        raise StoreError("the database went away")

    monkeypatch.setattr(kit, "_store_interactions", store_down)
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(receiver, PLAIN)
    assert caught.value.smtp_code == 451
    monkeypatch.undo()
    assert kit.journey(jan.id).steps == ()
    send(receiver, PLAIN)  # the sending server's retry, once the store is back
    send(receiver, PLAIN)
    [recorded] = kit.journey(jan.id).steps
    assert recorded.external_id == "CAKx7Pm1-q2bV0dZ@mail.example.nl"


def test_unexpected_failures_are_temporary_too(
    kit: Omnikit, receiver: SmtpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(kit, "receive", broken)
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(receiver, PLAIN)
    assert caught.value.smtp_code == 451


def test_an_adapter_reconfigured_without_a_secret_keeps_mail_queued(
    kit: Omnikit, receiver: SmtpReceiver
) -> None:
    kit.adapters.use("email", sender=SHOP)  # no secret: nothing could verify the mail
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(receiver, PLAIN)
    assert caught.value.smtp_code == 451
    kit.adapters.use("email", secret=SECRET)
    send(receiver, PLAIN)
    assert kit.customers.find(email="jan@example.nl") is not None


def test_unreadable_mail_is_rejected_for_good(kit: Omnikit, receiver: SmtpReceiver) -> None:
    anonymous = b"Subject: no sender\r\nMessage-ID: <x@y>\r\n\r\nHallo\r\n"
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(receiver, anonymous)
    assert caught.value.smtp_code == 554
    assert b"no From address" in caught.value.smtp_error
    assert kit.customers.find(email="jan@example.nl") is None


def test_only_configured_recipient_domains_are_taken(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    with SmtpReceiver(kit, port=free_port(), domains=["Shop.Example.NL"]) as receiver:
        with (
            smtplib.SMTP(receiver.host, receiver.port, timeout=10) as client,
            pytest.raises(smtplib.SMTPRecipientsRefused) as caught,
        ):
            client.sendmail("jan@example.nl", ["someone@elsewhere.example"], PLAIN)
        [(code, _)] = caught.value.recipients.values()
        assert code == 550
        send(receiver, PLAIN)
    assert kit.customers.find(email="jan@example.nl") is not None


def test_mail_over_the_size_limit_is_refused(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    with (
        SmtpReceiver(kit, port=free_port(), max_size=4096) as receiver,
        pytest.raises(smtplib.SMTPResponseException) as caught,
    ):
        send(receiver, PLAIN + b"x" * 5000 + b"\r\n")
    assert caught.value.smtp_code == 552
    assert kit.customers.find(email="jan@example.nl") is None


def test_stop_and_start_again(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    receiver = SmtpReceiver(kit, port=free_port())
    receiver.start()
    receiver.start()  # already running: nothing happens
    receiver.stop()
    receiver.stop()
    with pytest.raises(OSError):
        send(receiver, PLAIN)
    receiver.start()
    try:
        send(receiver, PLAIN)
    finally:
        receiver.stop()
    assert kit.customers.find(email="jan@example.nl") is not None
    assert repr(receiver) == f"<SmtpReceiver 127.0.0.1:{receiver.port} adapter='email'>"


def test_receiver_needs_an_email_adapter_with_a_secret() -> None:
    with Omnikit("sqlite:///:memory:") as kit:
        with pytest.raises(Exception, match="no adapter 'email' is configured"):
            SmtpReceiver(kit)
        kit.adapters.use("webhook", secret=SECRET, channel="email")
        with pytest.raises(ValidationError, match="not an EmailAdapter"):
            SmtpReceiver(kit, adapter="webhook")
        kit.adapters.use("email", sender="service@shop.example.nl")
        with pytest.raises(ValidationError, match="no secret"):
            SmtpReceiver(kit)
        kit.adapters.use("email", secret=SECRET)
        for options, reason in (
            ({"port": 0}, "port"),
            ({"max_size": 10}, "max_size"),
            ({"domains": "shop.example.nl"}, "domains"),
        ):
            with pytest.raises(ValidationError, match=reason):
                SmtpReceiver(kit, **options)  # type: ignore[arg-type]


def test_without_aiosmtpd_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiosmtpd.controller", None)
    with Omnikit("sqlite:///:memory:") as kit:
        kit.adapters.use("email", secret=SECRET)
        with pytest.raises(ImportError, match=r"pip install 'omnikit\[smtp\]'"):
            SmtpReceiver(kit)


def test_the_docs_example_runs() -> None:
    page = Path(__file__).resolve().parent.parent / "docs" / "providers" / "email.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert blocks
    port = str(free_port())  # the page listens on 8025; a free port here
    for block in blocks:
        exec(compile(block.replace("8025", port), "docs/providers/email.md", "exec"), {})
