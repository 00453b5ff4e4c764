"""Webhook deliveries replayed out of order by 8 processes: each message recorded once.

Providers deliver at least once: the same message can arrive again, late, and at
another process. 10,000 deliveries of 1,000 distinct messages from 250 senders go
through ``kit.receive`` in 8 processes against one store; exactly 1,000 interactions
and 250 customers must come out, and every delivery must be acknowledged.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from omnikit import Omnikit
from tests.test_reliability import _count, _run_all

pytestmark = pytest.mark.slow

MESSAGES = 1000
SENDERS = 250
COPIES = 10
PROCESSES = 8

DELIVERER = textwrap.dedent(
    """
    import json, random, sys, time
    from pathlib import Path
    from omnikit import InboundRequest, Omnikit
    from omnikit.adapters.webhook import sign

    url, go, worker, workers = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    messages, senders, copies = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    secret = "whsec-0123456789abcdef"
    deliveries = [n for n in range(messages) for _ in range(copies)]
    random.Random(7).shuffle(deliveries)          # one global order, dealt round robin
    mine = deliveries[worker::workers]
    kit = Omnikit(url, default_region="NL")
    kit.adapters.use("webhook", secret=secret)
    while not go.exists():
        time.sleep(0.005)
    acknowledged = 0
    for n in mine:
        body = json.dumps({
            "type": "message", "id": f"msg-{n}", "text": f"message {n}",
            "sender": {"email": f"customer{n % senders}@example.nl"},
        }).encode()
        headers = {"content-type": "application/json"} | sign(secret, body, int(time.time()))
        request = InboundRequest(method="POST", url="http://127.0.0.1/webhooks/webhook",
                                 headers=headers, body=body)
        result = kit.receive("webhook", request)
        assert len(result.interactions) == 1
        acknowledged += result.response.status == 200
    kit.close()
    print(acknowledged)
    """
)


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"], indirect=True)
def test_replayed_deliveries_record_each_message_once(
    backend: str, store_url: str, tmp_path: Path
) -> None:
    Omnikit(store_url).close()
    go = tmp_path / "go"
    args = [str(MESSAGES), str(SENDERS), str(COPIES)]
    outputs = _run_all(
        [
            [DELIVERER, store_url, str(go), str(worker), str(PROCESSES), *args]
            for worker in range(PROCESSES)
        ],
        go,
        timeout=600,
    )
    assert sum(int(out) for out in outputs) == MESSAGES * COPIES
    assert _count(store_url, "interactions") == MESSAGES
    assert _count(store_url, "interactions", "DISTINCT external_id") == MESSAGES
    assert _count(store_url, "customers") == SENDERS
    assert _count(store_url, "identities") == SENDERS
