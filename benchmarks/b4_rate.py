"""B4 rate adherence: batchpoll at the limit, alone and next to a client taking 30 % of it.

The same workload as B1 on the mock at 1,200 RPM (20 per 1 s). The server reports the most
requests it accepted in any 1 s and any 60 s window; by construction it never accepts more
than the limit, so what matters is how many 429s batchpoll drew to stay there and how its
rate adapted (``poller.stats().rate_rpm``, sampled every 0.5 s).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from . import _mockproc, _plots
from ._contenders import ASSISTANT, thread_param, with_batchpoll
from ._env import progress
from ._report import Section, image, table, verdict
from .b1_bulk import RPM, SPEC, rate_limit_bound, run_contender

COMPETITOR_SHARE = 0.3


@dataclass(slots=True)
class Competitor:
    """A plain client polling one run at a fixed pace (SDK, max_retries=0: it just goes on)."""

    base_url: str
    rps: float
    sent: int = 0
    rate_limited: int = 0
    errors: int = 0

    async def run(self) -> None:
        client = AsyncOpenAI(base_url=self.base_url, api_key="sk-other", max_retries=0)
        loop = asyncio.get_running_loop()
        start = loop.time()
        run = None
        try:
            while True:
                self.sent += 1
                try:
                    if run is None:
                        run = await client.beta.threads.create_and_run(
                            assistant_id=ASSISTANT, thread=thread_param("competitor")
                        )
                    else:
                        await client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
                except openai.RateLimitError:
                    self.rate_limited += 1
                except openai.APIError:
                    self.errors += 1
                # A fixed schedule, whatever the replies: k / rps after the start.
                await asyncio.sleep(max(0.0, start + self.sent / self.rps - loop.time()))
        finally:
            await client.close()


@dataclass(slots=True)
class Scenario:
    name: str
    row: dict[str, Any]  # as b1_bulk.run_contender returns it
    competitor: Competitor | None = None


def run(n: int = 300, alone: dict[str, Any] | None = None) -> Section:
    """``alone``: a B1 batchpoll row of the same size to reuse instead of running it again."""
    cap_s = max(180.0, 0.6 * n)
    scenarios: list[Scenario] = []
    with _mockproc.mock_process(SPEC) as base_url:
        if alone is not None:
            scenarios.append(Scenario("alone (the B1 batchpoll run)", alone))
        else:
            progress(f"B4 {n} items, alone")
            scenarios.append(Scenario("alone", run_contender(with_batchpoll, base_url, n, cap_s)))
        progress(f"B4 {n} items, with a client taking {COMPETITOR_SHARE:.0%}")
        competitor = Competitor(base_url, COMPETITOR_SHARE * RPM / 60.0)
        fn = functools.partial(with_batchpoll, side=competitor.run)
        row = run_contender(fn, base_url, n, cap_s)
        scenarios.append(Scenario(f"with a client taking {COMPETITOR_SHARE:.0%}", row, competitor))
    for sc in scenarios:
        s = sc.row["server"]
        progress(
            f"  {sc.name}: {sc.row['elapsed_s']:.1f} s, max 1 s {s['max_accepted_1s']}, "
            f"max 60 s {s['max_accepted_60s']}, 429s {s['rate_limited']}"
        )
    series = [(sc.name, sc.row["extra"].get("rate_samples", [])) for sc in scenarios]
    _plots.b4_rates("b4_rate.png", series, RPM)
    return _section(n, scenarios)


def _makespan(row: dict[str, Any], bound_s: float) -> str:
    if row["ended"] != "ok":
        return str(row["ended"])
    return f"{row['elapsed_s']:.1f} s ({row['elapsed_s'] / bound_s:.2f} ×)"


def _section(n: int, scenarios: list[Scenario]) -> Section:
    burst = RPM // 60
    header = [
        "scenario",
        "max accepted in 1 s",
        "max accepted in 60 s",
        "over the limit?",
        "429s (all)",
        "429s drawn by batchpoll",
        "competitor sent / 429s",
        "batchpoll rate RPM min / mean / end",
        "makespan (× bound at the quota left)",
        "correct outputs",
    ]
    bound = rate_limit_bound(n)
    rows = []
    for sc in scenarios:
        r, s = sc.row, sc.row["server"]
        f = r["extra"]["poller_stats"]
        over = s["max_accepted_1s"] > burst or s["max_accepted_60s"] > RPM
        comp = sc.competitor
        left = 1.0 if comp is None else 1.0 - COMPETITOR_SHARE  # the quota batchpoll can have
        rows.append(
            [
                sc.name,
                f"{s['max_accepted_1s']} (limit {burst})",
                f"{s['max_accepted_60s']:,} (limit {RPM:,})",
                "yes" if over else "no",
                f"{s['rate_limited']:,}",
                f"{f['rate_limited']:,}",
                "—" if comp is None else f"{comp.sent:,} / {comp.rate_limited:,}",
                f"{f['rate_rpm_min']:,.0f} / {f['rate_rpm_mean']:,.0f} / {f['rate_rpm']:,.0f}",
                _makespan(r, bound.necessary / (left * RPM / 60.0)),
                f"{r['correct']} / {n}",
            ]
        )
    never_over = all(
        sc.row["server"]["max_accepted_1s"] <= burst and sc.row["server"]["max_accepted_60s"] <= RPM
        for sc in scenarios
    )
    drawn = {sc.name: sc.row["extra"]["poller_stats"]["rate_limited"] for sc in scenarios}
    lines = [
        f"## B4 rate adherence: {n:,} items at {RPM:,} RPM",
        "",
        "B1's workload; batchpoll's budget at its defaults (rpm=1200: at most "
        f"{RPM // 60} requests counted by the server in any 1 s). The competitor is a plain "
        "SDK client (max_retries=0) in the "
        "same process (its own client and connections), polling one run at a fixed "
        f"{COMPETITOR_SHARE * RPM / 60:g} requests/s "
        f"({COMPETITOR_SHARE:.0%} of the quota) whatever the replies; batchpoll is not told "
        "about it and must adapt from headers and 429s. The mock enforces the limit, so the "
        "server never accepts more than it: the cost of staying under is the 429s drawn, and "
        "the quota left unused (the bound with a competitor assumes batchpoll gets the 70 % "
        "the competitor leaves).",
        "",
        table(header, rows),
        "",
        table(
            ["target", "figure", "verdict"],
            [
                ["never over the limit (server windows)", "see above", verdict(never_over)],
                [
                    "429s batchpoll drew (alone / with competitor)",
                    " / ".join(str(v) for v in drawn.values()),
                    "—",
                ],
            ],
        ),
        "",
        image("b4_rate.png", "B4 rate"),
        "",
    ]
    return Section(
        "b4",
        "\n".join(lines),
        ["b4_rate.png"],
        {
            sc.name: {
                **sc.row,
                "competitor": None
                if sc.competitor is None
                else {
                    "sent": sc.competitor.sent,
                    "rate_limited": sc.competitor.rate_limited,
                    "errors": sc.competitor.errors,
                },
            }
            for sc in scenarios
        },
    )
