"""Telegram Bot API: conformance, what updates become, and the exact Bot API requests."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from omnikit import (
    EventType,
    InboundRequest,
    Omnikit,
    OutboundMessage,
    PayloadError,
    SendError,
    SignatureError,
    ValidationError,
)
from omnikit.adapters.telegram import SECRET_HEADER, TelegramAdapter
from omnikit.model import Attachment
from omnikit.testing import AdapterConformance

SECRET = "omnikit-Shop_2026-webhook"
BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
URL = "https://shop.example.nl/webhooks/telegram"
DATE = 1795435170  # 2026-11-23 11:59:30 UTC

JAN = {
    "id": 412345678,
    "is_bot": False,
    "first_name": "Jan",
    "last_name": "de Vries",
    "username": "jandevries",
    "language_code": "nl",
}
PRIVATE_CHAT = {
    "id": 412345678,
    "first_name": "Jan",
    "last_name": "de Vries",
    "username": "jandevries",
    "type": "private",
}


def update(update_id: int, **fields: Any) -> dict[str, Any]:
    return {"update_id": update_id, **fields}


def message(message_id: int, **fields: Any) -> dict[str, Any]:
    return {"message_id": message_id, "from": JAN, "chat": PRIVATE_CHAT, "date": DATE, **fields}


TEXT = update(804467101, message=message(1365, text="Waar blijft mijn bestelling? 📦 Order 1001"))
PHOTO = update(
    804467102,
    message=message(
        1366,
        caption="De doos was beschadigd",
        photo=[
            {
                "file_id": "AgACAgQAAxkBAAIBZ2VsmallAAE",
                "file_unique_id": "AQADs1",
                "file_size": 1379,
                "width": 90,
                "height": 67,
            },
            {
                "file_id": "AgACAgQAAxkBAAIBZ2VlargeAAE",
                "file_unique_id": "AQADs2",
                "file_size": 98123,
                "width": 1280,
                "height": 960,
            },
        ],
    ),
)
REPLY = update(
    804467103,
    message=message(
        1368,
        text="Ja, graag morgen bezorgen",
        reply_to_message={
            "message_id": 1367,
            "from": {"id": 7012345678, "is_bot": True, "first_name": "Shop", "username": "ShopBot"},
            "chat": PRIVATE_CHAT,
            "date": DATE - 60,
            "text": "Zullen we de levering verplaatsen?",
        },
    ),
)
CONTACT = update(
    804467104,
    message=message(
        1369,
        contact={
            "phone_number": "31612345678",
            "first_name": "Jan",
            "last_name": "de Vries",
            "user_id": 412345678,
        },
    ),
)
EDITED = update(
    804467105,
    edited_message=message(1365, text="Waar blijft order 1001?", edit_date=DATE + 30),
)
FROM_BOT = update(
    804467106,
    message={
        "message_id": 1370,
        "from": {"id": 5123456789, "is_bot": True, "first_name": "Other", "username": "OtherBot"},
        "chat": {"id": -1001234567890, "title": "Klantenservice", "type": "supergroup"},
        "date": DATE,
        "text": "Automatic notice",
    },
)


def delivered(document: object, *, token: str | None = SECRET) -> InboundRequest:
    """A webhook request as Telegram sends it: the secret token in its header."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers[SECRET_HEADER] = token
    return InboundRequest(
        method="POST",
        url=URL,
        headers=headers,
        body=json.dumps(document).encode(),
        received_at=RECEIVED,
    )


class TestTelegramConformance(AdapterConformance):
    secret = SECRET
    signature_headers = (SECRET_HEADER,)
    signs_body = False
    signs_time = False

    @pytest.fixture
    def adapter(self) -> TelegramAdapter:
        return TelegramAdapter(secret_token=SECRET, bot_token=BOT_TOKEN)

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        return [delivered(u) for u in (TEXT, PHOTO, REPLY, CONTACT, EDITED, FROM_BOT)]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        headers = {**request.headers, SECRET_HEADER.lower(): secret}
        return InboundRequest(**{**request.model_dump(), "headers": headers})

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to="412345678", text="Uw bestelling is onderweg.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(200, json=sent_answer(1371))


def sent_answer(message_id: int, chat_id: int = 412345678) -> dict[str, Any]:
    return {
        "ok": True,
        "result": {
            "message_id": message_id,
            "from": {"id": 7012345678, "is_bot": True, "first_name": "Shop", "username": "ShopBot"},
            "chat": PRIVATE_CHAT | {"id": chat_id},
            "date": DATE + 120,
            "text": "Uw bestelling is onderweg.",
        },
    }


@pytest.fixture
def adapter() -> TelegramAdapter:
    return TelegramAdapter(secret_token=SECRET, bot_token=BOT_TOKEN)


# inbound ---------------------------------------------------------------------------------


def test_text_message(adapter: TelegramAdapter) -> None:
    [event] = adapter.parse(delivered(TEXT))
    assert event.type is EventType.MESSAGE
    assert (event.channel, event.kind, event.external_id) == (
        "telegram",
        "message",
        "412345678:1365",
    )
    assert event.text == "Waar blijft mijn bestelling? 📦 Order 1001"
    assert event.occurred_at == datetime(2026, 11, 23, 11, 59, 30, tzinfo=UTC)
    assert event.sender is not None
    assert event.sender.external_ids == {"telegram": "412345678"}
    assert event.sender.handles == {"telegram": "jandevries"}
    assert (event.sender.name, event.sender.language, event.sender.phone) == (
        "Jan de Vries",
        "nl",
        None,
    )
    assert event.metadata == {"update_id": 804467101, "chat_id": 412345678, "chat_type": "private"}


def test_photo_keeps_the_largest_size_and_the_caption(adapter: TelegramAdapter) -> None:
    [event] = adapter.parse(delivered(PHOTO))
    assert event.text == "De doos was beschadigd"
    assert event.attachments == (
        Attachment(name="AgACAgQAAxkBAAIBZ2VlargeAAE", content_type="image/jpeg", size=98123),
    )


def test_files_keep_their_file_id_and_type(adapter: TelegramAdapter) -> None:
    voice = {
        "file_id": "AwACAgQAAxkBVoice",
        "file_unique_id": "v1",
        "duration": 4,
        "mime_type": "audio/ogg",
        "file_size": 9120,
    }
    document = {
        "file_id": "BQACAgQAAxkBDoc",
        "file_unique_id": "d1",
        "file_name": "factuur-1001.pdf",
        "mime_type": "application/pdf",
    }
    sticker = {
        "file_id": "CAACAgIAAxkBSticker",
        "file_unique_id": "s1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": True,
        "is_video": False,
    }
    for item, expected in (
        (
            {"voice": voice},
            Attachment(name="AwACAgQAAxkBVoice", content_type="audio/ogg", size=9120),
        ),
        (
            {"document": document},
            Attachment(name="BQACAgQAAxkBDoc", content_type="application/pdf"),
        ),
        (
            {"sticker": sticker},
            Attachment(name="CAACAgIAAxkBSticker", content_type="application/x-tgsticker"),
        ),
    ):
        [event] = adapter.parse(delivered(update(1, message=message(1400, **item))))
        assert event.type is EventType.MESSAGE and event.text is None
        assert event.attachments == (expected,)


def test_reply_names_the_message_answered(adapter: TelegramAdapter) -> None:
    [event] = adapter.parse(delivered(REPLY))
    assert event.external_id == "412345678:1368"
    assert event.metadata["in_reply_to"] == "412345678:1367"


def test_own_contact_gives_the_phone_number(adapter: TelegramAdapter) -> None:
    [event] = adapter.parse(delivered(CONTACT))
    assert event.sender is not None and event.sender.phone == "+31612345678"
    assert event.metadata["contact"] == {
        "phone_number": "31612345678",
        "first_name": "Jan",
        "last_name": "de Vries",
        "user_id": 412345678,
    }
    # someone else's contact card says nothing about the sender's own number
    other = {"phone_number": "+31201234567", "first_name": "Piet", "user_id": 555}
    [event] = adapter.parse(delivered(update(2, message=message(1401, contact=other))))
    assert event.type is EventType.MESSAGE
    assert event.sender is not None and event.sender.phone is None


def test_location_is_metadata(adapter: TelegramAdapter) -> None:
    where = {"latitude": 52.370216, "longitude": 4.895168}
    [event] = adapter.parse(delivered(update(3, message=message(1402, location=where))))
    assert event.type is EventType.MESSAGE
    assert event.metadata["location"] == where


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (EDITED, "edited_message"),
        (FROM_BOT, "from a bot"),
        (update(4, callback_query={"id": "4382", "from": JAN, "data": "yes"}), "callback_query"),
        (
            update(5, my_chat_member={"chat": PRIVATE_CHAT, "from": JAN, "date": DATE}),
            "my_chat_member",
        ),
        (update(6, channel_post=message(9, text="news")), "channel_post"),
        (update(7, some_future_update={"x": 1}), "unknown update type 'some_future_update'"),
        (update(8, message=message(1403, new_chat_members=[JAN])), "service message"),
        (
            update(9, message={k: v for k, v in message(1404, text="hi").items() if k != "from"}),
            "without a sender",
        ),
    ],
)
def test_other_updates_are_ignored_with_a_reason(
    adapter: TelegramAdapter, document: dict[str, Any], reason: str
) -> None:
    [event] = adapter.parse(delivered(document))
    assert event.type is EventType.IGNORED
    assert reason in (event.reason or "")


def test_verify_checks_the_secret_token(adapter: TelegramAdapter) -> None:
    adapter.verify(delivered(TEXT))
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(delivered(TEXT, token=None))
    for wrong in ("omnikit-Shop_2026-webhooK", "", SECRET + "x", SECRET[:-1]):
        with pytest.raises(SignatureError, match="does not match"):
            adapter.verify(delivered(TEXT, token=wrong))


def test_bad_updates_are_payload_errors(adapter: TelegramAdapter) -> None:
    for document, reason in (
        ([TEXT], "must be a JSON object"),
        ({"message": TEXT["message"]}, "update.update_id must be an integer"),
        (update(1, message="hi"), "update.message must be an object"),
        (update(1, message=message(1, chat=None, text="x")), "message.chat must be an object"),
        (update(1, message=message(1, date="today", text="x")), "message.date"),
        (update(1, message=message(1, text=5)), "text must be a string"),
        (update(1, message=message(1, photo=[])), "message.photo"),
        (update(1, message=message(1, document={"file_name": "a.pdf"})), "file_id is missing"),
        (update(1, message=message(1, date=10**18, text="x")), "not a time"),
    ):
        with pytest.raises(PayloadError, match=reason):
            adapter.parse(delivered(document))
    xml = delivered(TEXT).model_copy(update={"headers": {"content-type": "text/xml"}})
    with pytest.raises(PayloadError, match="text/xml"):
        adapter.parse(xml)


def test_settings_are_checked() -> None:
    for token in ("", "has space", "x" * 257, "semi;colon", "ünïcode"):
        with pytest.raises(ValidationError, match="secret_token"):
            TelegramAdapter(secret_token=token)
    TelegramAdapter(secret_token="x" * 256)
    with pytest.raises(ValidationError, match="bot_token"):
        TelegramAdapter(secret_token=SECRET, bot_token="not a token")
    with pytest.raises(ValidationError, match="api_base"):
        TelegramAdapter(secret_token=SECRET, api_base="api.telegram.org")
    with pytest.raises(ValidationError, match="no bot_token"):
        TelegramAdapter(secret_token=SECRET).render(OutboundMessage(to="1", text="hi"))


# through the kit -------------------------------------------------------------------------


def test_the_same_user_twice_is_one_customer(kit: Omnikit) -> None:
    kit.adapters.use("telegram", secret_token=SECRET, bot_token=BOT_TOKEN)
    first = kit.receive("telegram", delivered(TEXT)).interactions[0]
    second = kit.receive("telegram", delivered(PHOTO)).interactions[0]
    assert first.customer_id == second.customer_id
    assert (first.channel, first.direction, first.external_id) == (
        "telegram",
        "inbound",
        "412345678:1365",
    )
    assert second.attachments[0].name == "AgACAgQAAxkBAAIBZ2VlargeAAE"
    jan = kit.customers.get(first.customer_id)
    assert jan.name == "Jan de Vries"
    assert kit.customers.find(handles={"telegram": "@JanDeVries"}).id == jan.id
    assert kit.customers.find(external_ids={"telegram": "412345678"}).id == jan.id
    assert [step.id for step in kit.journey(jan.id).steps] == [first.id, second.id]
    # Telegram retries a delivery it saw no answer to: recorded once
    again = kit.receive("telegram", delivered(TEXT)).interactions[0]
    assert again.id == first.id and len(kit.journey(jan.id).steps) == 2


def test_shared_contact_links_the_account_to_the_caller(kit: Omnikit) -> None:
    kit.adapters.use("telegram", secret_token=SECRET)
    caller = kit.customers.identify(phone="06 12345678", name="J. de Vries")
    [interaction] = kit.receive("telegram", delivered(CONTACT)).interactions
    assert interaction.customer_id == caller.id
    # from now on the Telegram account alone recognises the caller
    [later] = kit.receive("telegram", delivered(TEXT)).interactions
    assert later.customer_id == caller.id
    assert kit.journey(caller.id).channels == ["telegram"]


def test_contact_shared_after_chatting_names_both_customers(kit: Omnikit) -> None:
    kit.adapters.use("telegram", secret_token=SECRET)
    caller = kit.customers.identify(phone="06 12345678")
    [chat] = kit.receive("telegram", delivered(TEXT)).interactions
    assert chat.customer_id != caller.id
    [shared] = kit.receive("telegram", delivered(CONTACT)).interactions
    # the number and the account belong to different customers: nothing is merged
    # behind the agent's back, and both are named for a person to decide
    assert sorted(shared.metadata["candidates"]) == sorted([caller.id, chat.customer_id])
    assert shared.customer_id in (caller.id, chat.customer_id)


def test_ignored_updates_are_acknowledged(kit: Omnikit) -> None:
    kit.adapters.use("telegram", secret_token=SECRET)
    result = kit.receive("telegram", delivered(EDITED))
    assert result.interactions == () and result.response.status == 200
    [ignored] = result.ignored
    assert "edited_message" in (ignored.reason or "")
    with pytest.raises(SignatureError):
        kit.receive("telegram", delivered(TEXT, token="guess"))


# outbound --------------------------------------------------------------------------------


def bot_api(seen: list[httpx.Request], answers: list[httpx.Response]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_send_message_request(adapter: TelegramAdapter) -> None:
    [payload] = adapter.render(
        OutboundMessage(to="412345678", text="Morgen tussen 9 en 12 🚚", reply_to="412345678:1368")
    )
    seen: list[httpx.Request] = []
    with bot_api(seen, [httpx.Response(200, json=sent_answer(1371))]) as client:
        result = adapter.send(payload, client)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {
        "chat_id": 412345678,
        "text": "Morgen tussen 9 en 12 🚚",
        "reply_parameters": {"message_id": 1368},
    }
    assert result.external_id == "412345678:1371" and result.http_status == 200


def test_photo_with_caption_and_long_text() -> None:
    adapter = TelegramAdapter(
        secret_token=SECRET, bot_token=BOT_TOKEN, api_base="http://localhost:8081/"
    )
    photo = "https://shop.example.nl/img/drill-1001.jpg"
    payloads = adapter.render(OutboundMessage(to="@shopnieuws", text="De boor", media=(photo,)))
    assert [p.url for p in payloads] == [f"http://localhost:8081/bot{BOT_TOKEN}/sendPhoto"]
    assert json.loads(payloads[0].body) == {
        "chat_id": "@shopnieuws",
        "photo": photo,
        "caption": "De boor",
    }
    # a text too long for a caption follows the photo, split at 4,096 characters
    words = ("woord " * 1500).strip()  # 8,999 characters
    payloads = adapter.render(
        OutboundMessage(to="412345678", text=words, media=(photo,), reply_to="1368")
    )
    bodies = [json.loads(p.body) for p in payloads]
    assert [p.url.rsplit("/", 1)[1] for p in payloads] == [
        "sendPhoto",
        "sendMessage",
        "sendMessage",
        "sendMessage",
    ]
    assert bodies[0] == {
        "chat_id": 412345678,
        "photo": photo,
        "reply_parameters": {"message_id": 1368},
    }
    texts = [b["text"] for b in bodies[1:]]
    assert all(len(t) <= 4096 for t in texts)
    assert " ".join(texts) == words
    assert all("reply_parameters" not in b for b in bodies[1:])


def test_reply_in_another_chat_names_that_chat(adapter: TelegramAdapter) -> None:
    [payload] = adapter.render(
        OutboundMessage(to="412345678", text="Zie groep", reply_to="-1001234567890:77")
    )
    assert json.loads(payload.body)["reply_parameters"] == {
        "message_id": 77,
        "chat_id": -1001234567890,
    }
    for to in ("jan", "+31612345678"):
        with pytest.raises(ValidationError, match="chat id"):
            adapter.render(OutboundMessage(to=to, text="x"))
    with pytest.raises(ValidationError, match="reply_to"):
        adapter.render(OutboundMessage(to="1", text="x", reply_to="abc"))


def test_refusals_are_send_errors_without_the_token(adapter: TelegramAdapter) -> None:
    [payload] = adapter.render(OutboundMessage(to="412345678", text="Hallo"))
    refused = {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    with (
        bot_api([], [httpx.Response(403, json=refused)]) as client,
        pytest.raises(SendError) as caught,
    ):
        adapter.send(payload, client)
    assert caught.value.status == 403 and not caught.value.retryable
    assert "blocked by the user" in str(caught.value)
    assert BOT_TOKEN not in str(caught.value) and "bot<token>" in str(caught.value)
    # a 200 that says ok: false is a refusal too
    odd = {"ok": False, "description": "Bad Request: message text is empty"}
    with bot_api([], [httpx.Response(200, json=odd)]) as client, pytest.raises(SendError) as caught:
        adapter.send(payload, client)
    assert "message text is empty" in str(caught.value) and not caught.value.retryable
    limited = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 5",
        "parameters": {"retry_after": 5},
    }

    async def go() -> None:
        transport = httpx.MockTransport(lambda _: httpx.Response(429, json=limited))
        async with httpx.AsyncClient(transport=transport) as client:
            await adapter.asend(payload, client)

    with pytest.raises(SendError) as caught:
        asyncio.run(go())
    assert caught.value.retryable and BOT_TOKEN not in str(caught.value)


# refusals the outbox acts on -------------------------------------------------------------


def refused(
    adapter: TelegramAdapter, status: int, answer: dict[str, Any], *, asynchronous: bool = False
) -> SendError:
    [payload] = adapter.render(OutboundMessage(to="412345678", text="Hallo"))
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json=answer))

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await adapter.asend(payload, client)

    with pytest.raises(SendError) as caught:
        if asynchronous:
            asyncio.run(go())
        else:
            with httpx.Client(transport=transport) as client:
                adapter.send(payload, client)
    assert BOT_TOKEN not in str(caught.value)
    return caught.value


@pytest.mark.parametrize("asynchronous", [False, True])
def test_flood_control_says_how_long_to_wait(adapter: TelegramAdapter, asynchronous: bool) -> None:
    limited = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 35",
        "parameters": {"retry_after": 35},
    }
    error = refused(adapter, 429, limited, asynchronous=asynchronous)
    assert (error.retryable, error.retry_after, error.status) == (True, 35.0, 429)
    assert not error.undeliverable


@pytest.mark.parametrize(
    ("status", "description", "undeliverable"),
    [
        (403, "Forbidden: bot was blocked by the user", True),
        (403, "Forbidden: user is deactivated", True),
        (403, "Forbidden: bot was kicked from the group chat", True),
        (403, "Forbidden: bot can't initiate conversation with a user", True),
        (400, "Bad Request: chat not found", True),
        (400, "Bad Request: message text is empty", False),
        (401, "Unauthorized", False),
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_chat_that_cannot_receive_is_undeliverable(
    adapter: TelegramAdapter, status: int, description: str, undeliverable: bool, asynchronous: bool
) -> None:
    answer = {"ok": False, "error_code": status, "description": description}
    error = refused(adapter, status, answer, asynchronous=asynchronous)
    assert (error.undeliverable, error.retryable, error.status) == (undeliverable, False, status)
    assert description in str(error)


def test_an_ok_false_answer_is_read_the_same_way(adapter: TelegramAdapter) -> None:
    gone = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    error = refused(adapter, 200, gone)
    assert error.undeliverable and not error.retryable
    flood = {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 3}}
    error = refused(adapter, 200, flood)
    assert (error.retryable, error.retry_after) == (True, 3.0)


def test_retry_after_in_the_body_is_bounded(adapter: TelegramAdapter) -> None:
    for wait, expected in ((-4, 0.0), (10**9, 86400.0), ("5", None), (True, None)):
        answer = {"ok": False, "error_code": 429, "parameters": {"retry_after": wait}}
        assert refused(adapter, 429, answer).retry_after == expected


def test_telegram_sends_no_idempotency_key(adapter: TelegramAdapter) -> None:
    plain = adapter.render(OutboundMessage(to="412345678", text="Hallo"))
    keyed = adapter.render(OutboundMessage(to="412345678", text="Hallo", idempotency_key="k-1"))
    assert [(p.url, p.headers, p.body) for p in keyed] == [
        (p.url, p.headers, p.body) for p in plain
    ]
