"""The create hooks (``Hooks.create_*``): each create and continuation heard around the moment
it leaves, in the core's own terms, against the in-process mock in virtual time."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI
from tests._virtual import EPOCH, ONE_TOOL_ROUND, virtual_mock

from batchpoll import ErrorInfo, Hooks, LoopClock, Poller, PollSettings, Status
from batchpoll.kinds import Ids, ResponsesJobs
from batchpoll.mock import FaultWindow

pytestmark = pytest.mark.looptime

KEY = "batchpoll_item"


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


class Journal(Hooks):
    """What a journal would write: (event, job, continuation, detail)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, bool, Any]] = []

    def create_sending(self, job: str, continuation: bool) -> None:
        self.lines.append(("sending", job, continuation, None))

    def create_sent(self, job: str, ids: Ids, continuation: bool) -> None:
        self.lines.append(("sent", job, continuation, dict(ids)))

    def create_not_sent(self, job: str, continuation: bool) -> None:
        self.lines.append(("not_sent", job, continuation, None))

    def create_maybe_sent(
        self, job: str, continuation: bool, error: ErrorInfo, resend: bool
    ) -> None:
        self.lines.append(("maybe_sent", job, continuation, (error.type, resend)))

    def events(self) -> list[str]:
        return [line[0] for line in self.lines]


def poller(client: AsyncOpenAI, journal: Hooks, mode: str = "auto") -> Poller:
    poll = PollSettings(ambiguous_creates=mode)  # type: ignore[arg-type]
    clock = LoopClock(epoch=EPOCH)
    return Poller(client, rpm=1200, tools=[lookup], poll=poll, clock=clock, hooks=[journal])


async def test_a_create_is_heard_leaving_then_made() -> None:
    _, client = virtual_mock(tool_rate=0.0, fail_rate=0.0)
    journal = Journal()
    async with poller(client, journal) as p:
        job = await p.create_response(model="m", input="x", key="item-1")
        outcome = await job
    assert outcome.status is Status.COMPLETED
    assert journal.lines == [
        ("sending", "item-1", False, None),
        ("sent", "item-1", False, {"response_id": outcome.ids["response_id"]}),
    ]


async def test_a_refused_create_is_not_sent() -> None:
    app, client = virtual_mock(tool_rate=0.0, fail_rate=0.0)
    journal = Journal()
    async with poller(client, journal) as p:
        job = await p.create(ResponsesJobs(), {"input": "no model"}, key="a")
        outcome = await job
    assert outcome.status is Status.ERROR
    assert outcome.error is not None
    assert outcome.error.type == "http_400"
    assert journal.events() == ["sending", "not_sent"]
    assert app.state.mock.stats()["requests_total"] == 1


@pytest.mark.parametrize(("mode", "resends"), [("auto", True), ("report", False)])
async def test_a_server_error_may_have_been_sent_and_the_policy_says_whether_again(
    mode: str, resends: bool
) -> None:
    # Every create of the first second: a 500 with its body (the server answered).
    faults = (FaultWindow(0.0, 1.0, "error", 1.0, "create"),)
    _, client = virtual_mock(fault_windows=faults, tool_rate=0.0, fail_rate=0.0)
    journal = Journal()
    async with poller(client, journal, mode) as p:
        outcome = await (await p.create_response(model="m", input="x", key="a"))
    first = journal.lines[1]
    assert first[0] == "maybe_sent"
    assert first[3] == ("http_500", resends)
    if resends:
        assert outcome.status is Status.COMPLETED
        assert outcome.retried_ambiguous_create is True
        assert journal.events()[-1] == "sent"
    else:
        assert outcome.error is not None
        assert outcome.error.type == "create_uncertain"
        assert journal.events() == ["sending", "maybe_sent"]


async def test_a_per_create_policy_overrides_the_pollers() -> None:
    faults = (FaultWindow(0.0, 1.0, "error", 1.0, "create"),)
    app, client = virtual_mock(fault_windows=faults, tool_rate=0.0, fail_rate=0.0)
    journal = Journal()
    async with poller(client, journal, "retry") as p:
        job = await p.create(
            ResponsesJobs(), {"model": "m", "input": "x"}, key="a", ambiguous_creates="report"
        )
        outcome = await job
    assert outcome.error is not None
    assert outcome.error.type == "create_uncertain"
    assert app.state.mock.stats()["requests_total"] == 1


async def test_a_continuation_is_heard_as_a_create() -> None:
    _, client = virtual_mock(seed=2, **ONE_TOOL_ROUND)
    journal = Journal()
    async with poller(client, journal) as p:
        outcome = await (await p.create_response(model="m", input="q", key="chain"))
    assert outcome.status is Status.COMPLETED
    assert outcome.tool_rounds == 1
    root, nxt = outcome.response_ids
    assert journal.lines == [
        ("sending", "chain", False, None),
        ("sent", "chain", False, {"response_id": root}),
        ("sending", "chain", True, None),
        ("sent", "chain", True, {"response_id": nxt}),
    ]


class Refusing(Hooks):
    def create_sending(self, job: str, continuation: bool) -> None:
        raise OSError("disk full")


async def test_a_hook_that_cannot_record_the_intent_keeps_the_create_from_leaving() -> None:
    app, client = virtual_mock(tool_rate=0.0, fail_rate=0.0)
    async with poller(client, Refusing()) as p:
        outcome = await (await p.create_response(model="m", input="x", key="a"))
    assert outcome.status is Status.ERROR
    assert outcome.error is not None
    assert outcome.error.type == "internal"
    assert "disk full" in outcome.error.message
    assert app.state.mock.stats()["requests_total"] == 0
