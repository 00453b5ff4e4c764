"""The public surface: everything in __all__ imports and is documented."""

from __future__ import annotations

import inspect
import logging

import pytest

import omnikit
from omnikit import Omnikit


@pytest.mark.parametrize("name", sorted(set(omnikit.__all__) - {"__version__"}))
def test_public_name_is_importable_and_documented(name: str) -> None:
    value = getattr(omnikit, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert inspect.getdoc(value), f"omnikit.{name} has no docstring"
        for attribute, member in vars(value).items():
            if not attribute.startswith("_") and inspect.isfunction(member):
                assert inspect.getdoc(member), f"omnikit.{name}.{attribute} has no docstring"


def test_error_tree() -> None:
    for name in omnikit.errors.__all__:
        assert issubclass(getattr(omnikit, name), omnikit.OmnikitError)
    assert issubclass(omnikit.InvalidIdentityError, omnikit.ValidationError)
    assert issubclass(omnikit.UnknownChannelError, omnikit.ValidationError)
    assert issubclass(omnikit.AmbiguousIdentityError, omnikit.ConflictError)
    assert issubclass(omnikit.NotFoundError, LookupError)
    assert issubclass(omnikit.ValidationError, ValueError)


def test_builtin_channels(kit: Omnikit) -> None:
    expected = {
        "phone",
        "email",
        "sms",
        "whatsapp",
        "webchat",
        "videochat",
        "messenger",
        "instagram",
        "telegram",
        "twitter",
        "webshop",
        "app",
        "store",
        "pickup",
        "post",
    }
    assert {channel.id for channel in kit.channels} == expected
    assert kit.channels.get("sms").text_limit == 1600
    assert kit.channels.get("post").identity_kind == "postal"
    assert kit.channels.get("store").outbound is False
    assert kit.channels.get("phone").realtime is True


def test_register_a_channel_and_record_on_it(kit: Omnikit) -> None:
    kiosk = omnikit.Channel(
        id="kiosk", name="In-store kiosk", identity_kind=None, realtime=True, outbound=False
    )
    kit.channels.register(kiosk)
    assert "kiosk" in kit.channels and kit.channels.get("kiosk") is kiosk
    with pytest.raises(omnikit.ConflictError, match="already registered"):
        kit.channels.register(kiosk)
    jan = kit.customers.identify(email="jan@example.nl")
    assert (
        kit.record(customer=jan, channel="kiosk", direction="inbound", kind="visit").channel
        == "kiosk"
    )


def test_log_lines_carry_ids_but_no_personal_data(
    kit: Omnikit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnikit")
    jan = kit.customers.identify(email="jan@example.nl", phone="020 123 4567", name="Jan Jansen")
    kit.record(
        customer=jan.id,
        channel="sms",
        direction="inbound",
        kind="message",
        text="my secret message",
        external_id="SM1",
    )
    kit.record(
        customer=jan.id,
        channel="sms",
        direction="inbound",
        kind="message",
        text="my secret message",
        external_id="SM1",
    )
    with pytest.raises(omnikit.OmnikitError):
        kit.customers.identify(email="jan@@example")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert jan.id in logged
    for secret in (
        "jan@example.nl",
        "+31201234567",
        "020 123 4567",
        "Jan Jansen",
        "secret",
        "jan@@",
    ):
        assert secret not in logged
