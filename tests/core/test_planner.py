"""``Planner``'s rules over a frozen ``Load``, with plain numbers (no loop, no mock)."""

from __future__ import annotations

import random

from batchpoll import PollSettings
from batchpoll._planner import Load, Planner, saturated
from batchpoll._record import Record
from batchpoll.kinds import AssistantsRuns, ResponsesJobs


def load(**kw: float | int | bool | None) -> Load:
    base: dict[str, float | int | bool | None] = {
        "now": 100.0,
        "wall": 1_700_000_100.0,
        "head_due": None,
        "on_server": 10,
        "rate_per_s": 20.0,
        "creates_waiting": False,
    }
    return Load(**{**base, **kw})  # type: ignore[arg-type]


def job(kind: object = None, **state: float) -> Record:
    j = Record("k", kind or ResponsesJobs(), {"response_id": "resp_1"}, created_at=0.0)  # type: ignore[arg-type]
    for name, value in state.items():
        setattr(j, name, value)
    return j


def planner(tools: bool = False, **poll: object) -> Planner:
    return Planner(
        PollSettings(**poll),  # type: ignore[arg-type]
        tools=tools,
        webhooks=None,
        uniform=random.Random(1).random,
    )


def test_saturated_means_the_earliest_due_check_is_over_a_second_late() -> None:
    assert not saturated(100.0, None)
    assert not saturated(100.0, 99.5)
    assert saturated(100.0, 98.9)
    assert load(head_due=98.0).saturated


def test_creates_share_the_budget_only_while_checks_keep_up() -> None:
    p = planner(create_share=0.3)
    assert p.create_share(load()) == 0.3
    assert p.create_share(load(head_due=89.0)) == 0.0  # a due check is 11 s late
    assert p.create_share(load(on_server=301)) == 0.0  # > 15 s of the budget on the server
    assert planner(create_share=0.0).create_share(load()) == 0.0


def test_a_known_action_window_tightens_the_share_and_caps_tool_runs_gaps() -> None:
    p = planner(tools=True, create_share=0.3)
    assert p.learn_action_window(20.0) is not None  # first learned: the engine pulls forward
    assert p.learn_action_window(20.0) is None  # already known
    gap = p.actions.max_gap_s()
    assert gap is not None
    assert p.create_share(load(head_due=100.0 - gap / 2 - 0.1)) == 0.0
    assert p.action_gap(job(AssistantsRuns())) == gap
    assert p.action_gap(job(ResponsesJobs())) is None  # a completed response does not expire
    assert planner(tools=False).action_gap(job(AssistantsRuns())) is None


def test_saturation_spaces_checks_by_the_fair_share() -> None:
    p = planner(strategy="backoff")
    j = job(checks_since_origin=3)
    idle = p.next_delay(j, load(), pushed=False)
    busy = p.next_delay(j, load(head_due=90.0, on_server=2000), pushed=False)
    # 2,000 jobs on the server at 20 requests/s: none checked more often than every ~100 s.
    assert busy >= 2000 / 20.0 * p.poll.fair_share * 0.99
    assert idle < busy


def test_spare_quota_buys_lag_only_when_asked_and_never_from_a_shared_budget() -> None:
    from batchpoll._budget import Budget
    from batchpoll._policy import shared_budget

    def first_age(idle: float | None, shared: bool = False, **at: float | int | bool) -> float:
        p = Planner(
            PollSettings(idle_lag_weight=idle),
            tools=False,
            webhooks=None,
            uniform=random.Random(1).random,
            shared_budget=shared,
        )
        j = job()
        j.klass = "responses:m"
        model = p.model(j)
        assert model is not None
        for _ in range(40):  # trained: no probes
            model.observe(2.0, 3.0)
        age = p.planned_age(j, load(**at))
        assert age is not None
        return age

    idle = {"on_server": 10, "rate_per_s": 20.0}  # 10 jobs, 20 requests/s to spare
    default = first_age(None, **idle)
    assert first_age(8.0, **idle) < default  # opted in, idle: an earlier first check
    assert first_age(8.0, shared=True, **idle) == default  # a shared budget: never
    assert first_age(8.0, on_server=11, rate_per_s=20.0) == default  # not idle: more jobs
    assert first_age(8.0, head_due=98.0, **idle) == default  # checks are late
    busy = first_age(None, creates_waiting=True, **idle)
    assert first_age(8.0, creates_waiting=True, **idle) == busy  # creates wait: busy weight

    class Redisish(Budget):  # a budget of another kind that does not say: counted shared
        pass

    class Local(Redisish):
        shared = False

    plain = Budget(600.0)
    assert not shared_budget(plain)
    assert shared_budget(plain, Redisish(600.0))
    assert not shared_budget(Local(600.0))
    assert shared_budget(type("Told", (), {"shared": True})())
