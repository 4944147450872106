"""The receiver alone: verification, replay window, idempotence, dispatch, ASGI surface."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest

from batchpoll import ConfigurationError
from batchpoll.mock._webhooks import sign
from batchpoll.webhooks import WebhookReceiver, parse_listen

from .conftest import SECRET, virtual_now

pytestmark = pytest.mark.looptime


class FakePoller:
    """Stands in for a Poller: records the hints."""

    def __init__(self) -> None:
        self.hints: list[str] = []
        self.client = openai.AsyncOpenAI(api_key="unused")

    def notify_done(self, server_id: str) -> bool:
        self.hints.append(server_id)
        return True


def delivery(
    event_type: str = "response.completed",
    object_id: str = "resp_1",
    *,
    webhook_id: str = "wh_1",
    age_s: float = 0.0,
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "created_at": 1,
            "type": event_type,
            "data": {"id": object_id},
        }
    ).encode()
    ts = int(virtual_now() - age_s)
    return body, {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, webhook_id, ts, body),
    }


def receiver() -> tuple[WebhookReceiver, FakePoller]:
    poller = FakePoller()
    return WebhookReceiver(poller, secret=SECRET), poller  # type: ignore[arg-type]


async def test_a_valid_event_makes_the_job_due() -> None:
    r, p = receiver()
    result = r.handle(*delivery())
    assert (result.status, result.result, result.object_id) == (200, "accepted", "resp_1")
    assert p.hints == ["resp_1"]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b + b" ", h), id="body changed"),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": "wh_2"}), id="id changed"),
        pytest.param(
            lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-signature"}),
            id="no signature",
        ),
        pytest.param(lambda b, h: (b, {**h, "webhook-timestamp": "soon"}), id="bad timestamp"),
    ],
)
async def test_bad_signatures_get_400_and_no_action(tamper: Any) -> None:
    r, p = receiver()
    result = r.handle(*tamper(*delivery()))
    assert (result.status, result.result) == (400, "rejected")
    assert p.hints == []


async def test_wrong_secret_is_rejected() -> None:
    r, p = receiver()
    other = "whsec_QUJDREVGR0hJSktMTU5PUA=="
    assert r.handle(*delivery(secret=other)).status == 400
    assert p.hints == []
    assert r.counts["rejected_signature"] == 1


async def test_stale_and_future_timestamps_are_rejected_even_when_signed() -> None:
    r, p = receiver()
    assert r.handle(*delivery(age_s=301)).status == 400  # a replay from 5 minutes ago
    assert r.handle(*delivery(webhook_id="wh_2", age_s=-301)).status == 400
    assert r.handle(*delivery(webhook_id="wh_3", age_s=299)).status == 200
    assert p.hints == ["resp_1"]
    assert r.counts["rejected_timestamp"] == 2


async def test_the_same_webhook_id_acts_once() -> None:
    r, p = receiver()
    first = r.handle(*delivery())
    again = r.handle(*delivery())  # a redelivery: same id, new timestamp and signature
    assert (first.result, again.result, again.status) == ("accepted", "duplicate", 200)
    assert p.hints == ["resp_1"]
    assert r.handle(*delivery(webhook_id="wh_9")).result == "accepted"  # another event
    assert p.hints == ["resp_1", "resp_1"]


async def test_seen_ids_are_bounded() -> None:
    p = FakePoller()
    r = WebhookReceiver(p, secret=SECRET, max_seen=2)  # type: ignore[arg-type]
    for i in range(3):
        r.handle(*delivery(webhook_id=f"wh_{i}"))
    assert r.handle(*delivery(webhook_id="wh_0")).result == "accepted"  # forgotten, acts again
    assert r.handle(*delivery(webhook_id="wh_2")).result == "duplicate"


@pytest.mark.parametrize("event_type", ["batch.in_progress", "response.created", "x.new"])
async def test_other_and_unknown_event_types_are_ignored(event_type: str) -> None:
    r, p = receiver()
    result = r.handle(*delivery(event_type, "batch_1"))
    assert (result.status, result.result) == (200, "ignored")
    assert p.hints == []


@pytest.mark.parametrize(
    "event_type",
    [
        "batch.completed",
        "batch.failed",
        "batch.expired",
        "batch.cancelled",
        "fine_tuning.job.succeeded",
        "fine_tuning.job.failed",
        "fine_tuning.job.cancelled",
    ],
)
async def test_every_terminal_batch_and_fine_tuning_event_is_a_hint(event_type: str) -> None:
    r, p = receiver()
    assert r.handle(*delivery(event_type, "batch_1")).result == "accepted"
    assert p.hints == ["batch_1"]


@pytest.mark.parametrize(
    "event_type",
    ["response.completed", "response.failed", "response.cancelled", "response.incomplete"],
)
async def test_every_terminal_response_event_is_a_hint(event_type: str) -> None:
    r, p = receiver()
    assert r.handle(*delivery(event_type)).result == "accepted"
    assert p.hints == ["resp_1"]


async def test_no_poller_yet_is_503_and_remembered_for_nothing() -> None:
    r = WebhookReceiver(secret=SECRET)
    assert r.handle(*delivery()).status == 503  # OpenAI retries it
    p = FakePoller()
    r.attach(p)  # type: ignore[arg-type]
    assert r.handle(*delivery()).result == "accepted"


async def test_secret_from_the_environment_or_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_WEBHOOK_SECRET"):
        WebhookReceiver()
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    r = WebhookReceiver(FakePoller())  # type: ignore[arg-type]
    assert r.handle(*delivery()).status == 200
    assert SECRET not in repr(r)


async def test_asgi_surface() -> None:
    r, p = receiver()
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=r.app), base_url="http://hooks.local"
    ) as http:
        body, headers = delivery()
        ok = await http.post("/any/path", content=body, headers=headers)
        bad = await http.post("/", content=body + b"x", headers=headers)
        get = await http.get("/")
    assert (ok.status_code, bad.status_code, get.status_code) == (200, 400, 405)
    assert p.hints == ["resp_1"]


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("8080", "host:", ":80", "h:99999"):
        with pytest.raises(ConfigurationError):
            parse_listen(bad)
