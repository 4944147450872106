"""batchpoll's own budget keeps its bulk figures against both meanings of the headers.

The P1 workload (docs/benchmarks.md, B1): 300 runs at once at 1,200 RPM (20 per second),
durations lognormal median 4 s sigma 0.5, 3 % failing, 10 % asking a tool call that expires
20 s after it is asked. Necessary requests ≈ 3.16 per item, so the bound is ~47.4 s.
batchpoll reads ``x-ratelimit-remaining-requests == 0`` as a pause of
min(reset, 60 / limit); under the bucket semantics ``remaining`` is never below the window's,
so the figures must not get worse. Virtual time, in-process mock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from batchpoll import LoopClock, Poller, Status
from batchpoll.mock import MockConfig, asgi_client, create_app
from tests._virtual import EPOCH

pytestmark = pytest.mark.looptime


def lookup(query: str, round: int) -> str:
    return f"{query[::-1]}#{round}"


async def bulk(n: int, rpm: int, semantics: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    config = MockConfig(
        rpm=rpm, duration_median_s=4.0, duration_sigma=0.5, fail_rate=0.03, tool_rate=0.1,
        action_expiry_s=20.0, seed=5, header_semantics=semantics,  # type: ignore[arg-type]
    )  # fmt: skip
    app = create_app(config, clock=lambda: EPOCH + loop.time())
    client = asgi_client(app, api_key="sk-test")
    t0 = loop.time()
    poller = Poller(client, clock=LoopClock(epoch=EPOCH), seed=1, rpm=rpm, tools={"lookup": lookup})
    async with poller as p:
        jobs = await asyncio.gather(
            *(
                p.create_and_run(
                    assistant_id="a", thread={"messages": [{"role": "user", "content": f"q{i}"}]}
                )
                for i in range(n)
            )
        )
        outcomes = [await job for job in jobs]
    server = app.state.mock.stats()
    assert all(o.status in (Status.COMPLETED, Status.FAILED) for o in outcomes)
    return {
        "makespan": loop.time() - t0,
        "rate_limited": server["rate_limited"],
        "requests_per_item": server["requests_total"] / n,
        "expired": server["actions_expired"],
        "max_accepted_1s": server["max_accepted_1s"],
    }


@pytest.mark.parametrize("semantics", ["bucket", "window"])
async def test_p1_bulk_figures_hold_on_both_header_semantics(semantics: str) -> None:
    figures = await bulk(300, 1200, semantics)
    assert figures["rate_limited"] == 0
    assert figures["expired"] == 0
    assert figures["requests_per_item"] <= 3.6
    assert figures["makespan"] <= 1.15 * 47.4
    assert figures["max_accepted_1s"] == 20


async def test_the_semantics_do_not_change_a_saturated_bulk() -> None:
    # 300 runs at 300 RPM: the 60 s window fills (window semantics then report remaining 0
    # and batchpoll pauses for 60 / limit); the bucket reports more. Same outcome either way.
    bucket = await bulk(300, 300, "bucket")
    window = await bulk(300, 300, "window")
    assert bucket["rate_limited"] == window["rate_limited"] == 0
    assert bucket["makespan"] <= window["makespan"] + 1.0
