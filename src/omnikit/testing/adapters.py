"""The adapter conformance kit: what every channel adapter must do, as tests.

An integrator subclasses ``AdapterConformance`` in a pytest module, gives it an
adapter, sample requests signed exactly as the provider signs them, and a way to sign
a request again; the kit checks verification (forged, tampered, missing and stale
signatures are rejected), parsing, idempotent recording through ``kit.receive``,
rendering within the channel's limits, sending through an injected ``httpx`` client,
and fuzzes ``verify`` and ``parse`` with hypothesis (nothing but ``OmnikitError`` may
escape). See ``docs/adapters.md`` for a walk-through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnikit.adapters.base import (
    Adapter,
    EventType,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    OutboundPayload,
)
from omnikit.errors import OmnikitError, SendError, SignatureError

__all__ = ["AdapterConformance"]

# One fuzz test runs once per subclass (one per adapter), which hypothesis reports as
# "differing executors"; each run draws from its own adapter's samples, so it is safe.
_FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
    ],
)


class AdapterConformance:
    """Subclass and fill in the fixtures and methods marked *provide*.

    Provide:

    - fixture ``adapter``: the adapter under test, configured with ``secret``.
    - fixture ``requests``: sample requests, signed as the provider signs them, that
      together carry at least one ``MESSAGE`` event; every ``received_at`` set.
    - ``sign(request, secret, at)``: ``request`` signed again with ``secret`` as if sent
      at ``at`` (its body may have been changed).
    - ``secret``: the secret ``adapter`` verifies with.

    Optional:

    - ``signature_headers``: the headers that carry the signature; the "missing"
      test removes them (override ``unsigned`` for schemes that sign inside the body).
    - ``signs_body = False`` for schemes that do not cover the body (Telegram's secret
      token): the tampering test is skipped for them.
    - ``signs_time = False`` for schemes without a time window: the stale test is
      skipped for them.
    - fixture ``handshake_request``: a subscription challenge, and ``challenge``, the
      body the provider expects back.
    - fixture ``outbound``: an ``OutboundMessage`` the adapter can render, and fixture
      ``send_response``: the provider's answer to a successful send.
    - ``messages_in(payload)``: how many messages one request sends, for APIs that
      batch several (default 1).
    """

    secret: ClassVar[str]
    signature_headers: ClassVar[tuple[str, ...]] = ()
    signs_body: ClassVar[bool] = True
    signs_time: ClassVar[bool] = True
    challenge: ClassVar[bytes | None] = None

    # provided by the subclass ---------------------------------------------------------------

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        """``request`` signed again with ``secret`` as sent at ``at`` (*provide*)."""
        raise NotImplementedError

    def unsigned(self, request: InboundRequest) -> InboundRequest:
        """``request`` without its signature (default: ``signature_headers`` removed)."""
        if not self.signature_headers:
            raise NotImplementedError("set signature_headers or override unsigned()")
        drop = {name.lower() for name in self.signature_headers}
        headers = {k: v for k, v in request.headers.items() if k not in drop}
        return _with(request, headers=headers)

    def messages_in(self, payload: OutboundPayload) -> int:
        """How many messages ``payload`` sends: 1, unless the provider's API takes
        several in one request (LINE's push takes up to five); override it then."""
        return 1

    @pytest.fixture
    def handshake_request(self) -> InboundRequest | None:
        """A subscription challenge request, or None when the provider has none."""
        return None

    @pytest.fixture
    def outbound(self) -> OutboundMessage | None:
        """A message ``render`` accepts, or None for an inbound-only adapter."""
        return None

    @pytest.fixture
    def send_response(self) -> httpx.Response | None:
        """The provider's answer to a successful send of ``outbound``."""
        return None

    @pytest.fixture
    def kit(self, adapter: Adapter) -> Iterator[Any]:
        """An in-memory kit with ``adapter`` configured."""
        from omnikit import Omnikit

        with Omnikit("sqlite:///:memory:", default_region="NL") as kit:
            kit.adapters.use(adapter)
            yield kit

    # helpers ---------------------------------------------------------------------------------

    def _resigned(self, request: InboundRequest, body: bytes) -> InboundRequest:
        return self.sign(_with(request, body=body), self.secret, _arrived(request))

    # verification ----------------------------------------------------------------------------

    def test_has_samples(self, requests: list[InboundRequest], adapter: Adapter) -> None:
        assert requests, "provide at least one sample request"
        events = [e for r in requests for e in adapter.parse(r)]
        assert any(e.type is EventType.MESSAGE for e in events), "no sample carries a message"

    def test_samples_verify(self, adapter: Adapter, requests: list[InboundRequest]) -> None:
        for request in requests:
            adapter.verify(request)

    def test_sign_reproduces_the_samples(
        self, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        for request in requests:
            again = self.sign(request, self.secret, _arrived(request))
            adapter.verify(again)

    def test_missing_signature_is_rejected(
        self, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        for request in requests:
            with pytest.raises(SignatureError):
                adapter.verify(self.unsigned(request))

    def test_forged_signature_is_rejected(
        self, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        for request in requests:
            forged = self.sign(request, "not-the-secret-" + self.secret[::-1], _arrived(request))
            with pytest.raises(SignatureError):
                adapter.verify(forged)

    def test_tampered_body_is_rejected(
        self, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        if not self.signs_body:
            pytest.skip("the provider's signature does not cover the body")
        for request in requests:
            for body in _tampered(request.body):
                with pytest.raises(SignatureError):
                    adapter.verify(_with(request, body=body))

    def test_stale_signature_is_rejected(
        self, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        if not self.signs_time:
            pytest.skip("the provider's signature has no time window")
        for request in requests:
            old = self.sign(request, self.secret, _arrived(request) - timedelta(hours=1))
            with pytest.raises(SignatureError):
                adapter.verify(old)

    def test_rejected_request_records_nothing(
        self, kit: Any, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        for request in requests:
            forged = self.sign(request, "not-the-secret-" + self.secret[::-1], _arrived(request))
            with pytest.raises(SignatureError):
                kit.receive(adapter.name, forged)
        assert _count(kit, []) == 0

    # handshake -------------------------------------------------------------------------------

    def test_handshake(self, adapter: Adapter, handshake_request: InboundRequest | None) -> None:
        if handshake_request is None:
            pytest.skip("the provider has no subscription challenge")
        response = adapter.handshake(handshake_request)
        assert response is not None and response.status == 200
        if self.challenge is not None:
            assert response.body == self.challenge

    def test_samples_are_not_handshakes(
        self, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        for request in requests:
            assert adapter.handshake(request) is None

    # parsing and recording ---------------------------------------------------------------------

    def test_events_are_well_formed(
        self, kit: Any, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        for request in requests:
            for event in adapter.parse(request):
                assert isinstance(event, InboundEvent)
                kit.channels.get(event.channel)
                if event.type is EventType.MESSAGE:
                    assert event.external_id, "a message needs the provider's id"
                    assert event.sender is not None, "a message needs a sender"
                elif event.type is EventType.STATUS:
                    assert event.external_id, "a status names the provider's id"
                else:
                    assert event.reason, "an ignored event says why"

    def test_receive_records_each_message_once(
        self, kit: Any, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        first = [kit.receive(adapter.name, request) for request in requests]
        recorded = [i for result in first for i in result.interactions]
        count = _count(kit, recorded)
        messages = {
            (e.channel, e.external_id)
            for r in requests
            for e in adapter.parse(r)
            if e.type is EventType.MESSAGE
        }
        assert count == len(messages)
        again = [kit.receive(adapter.name, request) for request in reversed(requests)]
        assert _count(kit, recorded) == count
        ids = sorted(i.id for result in first for i in result.interactions)
        assert ids == sorted(i.id for result in again for i in result.interactions)
        for result in first:
            assert 200 <= result.response.status < 300

    def test_received_interactions_find_their_customer(
        self, kit: Any, adapter: Adapter, requests: list[InboundRequest]
    ) -> None:
        for request in requests:
            for interaction in kit.receive(adapter.name, request).interactions:
                assert interaction.direction == "inbound"
                journey = kit.journey(interaction.customer_id)
                assert interaction.id in [step.id for step in journey.steps]

    # fuzzing ---------------------------------------------------------------------------------

    @_FUZZ
    @given(data=st.data())
    def test_fuzz_verify(
        self, adapter: Adapter, requests: list[InboundRequest], data: st.DataObject
    ) -> None:
        request = data.draw(st.sampled_from(requests))
        headers = data.draw(
            st.dictionaries(st.text(max_size=30), st.text(max_size=200), max_size=6)
            | st.just(dict(request.headers))
        )
        body = data.draw(st.binary(max_size=2000) | _mutated(request.body))
        with contextlib.suppress(OmnikitError):
            adapter.verify(_with(request, headers=headers, body=body))

    @_FUZZ
    @given(data=st.data())
    def test_fuzz_parse(
        self, adapter: Adapter, requests: list[InboundRequest], data: st.DataObject
    ) -> None:
        request = data.draw(st.sampled_from(requests))
        body = data.draw(_mutated(request.body) | st.binary(max_size=2000))
        content_type = data.draw(
            st.sampled_from(
                [
                    request.header("content-type") or "",
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "text/plain",
                    "",
                ]
            )
        )
        try:
            headers = {**request.headers, "content-type": content_type}
            signed = self._resigned(_with(request, headers=headers), body)
            adapter.verify(signed)
            events = adapter.parse(signed)
        except OmnikitError:
            return
        assert isinstance(events, list)
        assert all(isinstance(event, InboundEvent) for event in events)

    # outbound --------------------------------------------------------------------------------

    def test_render_fits_the_channel(
        self, adapter: Adapter, outbound: OutboundMessage | None
    ) -> None:
        if outbound is None:
            pytest.skip("the adapter sends nothing")
        limit = adapter.capabilities.text_limit
        payloads = adapter.render(outbound)
        assert payloads
        if limit is not None:
            long = outbound.model_copy(update={"text": "word " * (limit // 2 + 10)})
            parts = adapter.render(long)
            count = sum(self.messages_in(part) for part in parts)
            assert count >= 2, "text over the limit must be split"

    def test_send_through_an_injected_client(
        self,
        adapter: Adapter,
        outbound: OutboundMessage | None,
        send_response: httpx.Response | None,
    ) -> None:
        if outbound is None or send_response is None:
            pytest.skip("the adapter sends nothing over HTTP")
        seen: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(
                send_response.status_code,
                headers=send_response.headers,
                content=send_response.content,
            )

        payload = adapter.render(outbound)[0]
        with httpx.Client(transport=httpx.MockTransport(answer)) as client:
            result = adapter.send(payload, client)
        assert len(seen) == 1 and str(seen[0].url) == payload.url
        assert seen[0].content == payload.body

        async def go() -> Any:
            async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
                return await adapter.asend(payload, client)

        assert asyncio.run(go()) == result

    def test_send_failures_say_whether_to_retry(
        self, adapter: Adapter, outbound: OutboundMessage | None, send_response: Any
    ) -> None:
        if outbound is None or send_response is None:
            pytest.skip("the adapter sends nothing over HTTP")
        payload = adapter.render(outbound)[0]
        for status, retryable in ((503, True), (429, True), (400, False), (401, False)):
            transport = httpx.MockTransport(lambda _, s=status: httpx.Response(s, json={}))
            with httpx.Client(transport=transport) as client, pytest.raises(SendError) as caught:
                adapter.send(payload, client)
            assert caught.value.retryable is retryable

        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        with (
            httpx.Client(transport=httpx.MockTransport(down)) as client,
            pytest.raises(SendError) as caught,
        ):
            adapter.send(payload, client)
        assert caught.value.retryable


def _arrived(request: InboundRequest) -> datetime:
    return request.arrived


def _with(request: InboundRequest, **changes: Any) -> InboundRequest:
    """A copy of ``request`` with ``changes``, validated (header names lower-cased)."""
    return InboundRequest(**{**request.model_dump(), **changes})


def _count(kit: Any, interactions: list[Any]) -> int:
    """How many interactions the customers of ``interactions`` have in the store."""
    customers = {i.customer_id for i in interactions}
    return sum(len(kit.journey(customer).steps) for customer in customers)


def _tampered(body: bytes) -> list[bytes]:
    """Bodies that differ from ``body`` in ways a signature over the body must notice."""
    variants = [body + b" ", body[:-1] if body else b"x"]
    for index in range(len(body) - 1, -1, -1):
        char = body[index : index + 1]
        if char.isalnum():
            swapped = b"1" if char != b"1" else b"2"
            variants.append(body[:index] + swapped + body[index + 1 :])
            break
    return [v for v in variants if v != body]


def _mutated(body: bytes) -> st.SearchStrategy[bytes]:
    """``body`` truncated, with bytes replaced, or with junk inserted."""
    cut = st.integers(0, max(len(body), 0)).map(lambda n: body[:n])
    junk = st.tuples(st.integers(0, len(body)), st.binary(min_size=1, max_size=20)).map(
        lambda t: body[: t[0]] + t[1] + body[t[0] :]
    )
    unicode = st.tuples(st.integers(0, len(body)), st.text(min_size=1, max_size=10)).map(
        lambda t: body[: t[0]] + t[1].encode("utf-8", "surrogatepass") + body[t[0] :]
    )
    return cut | junk | unicode
