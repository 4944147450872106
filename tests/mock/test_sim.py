"""Job timelines computed from timestamps: determinism and every transition."""

from __future__ import annotations

import math
import statistics

from batchpoll.mock import MockConfig
from batchpoll.mock._sim import Draws, JobRecord, Timing, draw, snapshot

T0 = 1_000.0


def job(
    work_s: float = 10.0,
    outcome: str = "completed",
    rounds: int = 0,
    *,
    queue_s: float = 1.0,
    action_expiry_s: float = 20.0,
    run_expiry_s: float | None = 600.0,
    cancel_delay_s: float = 0.5,
) -> JobRecord:
    return JobRecord(
        id="run_1",
        kind="run",
        seq=1,
        draws=Draws(work_s, outcome, rounds),  # type: ignore[arg-type]
        timing=Timing(T0, queue_s, action_expiry_s, run_expiry_s, cancel_delay_s),
        prompt="p",
        metadata={},
    )


def test_same_seed_same_draws_and_knobs_move_only_their_draw() -> None:
    config = MockConfig(seed=7)
    first = [draw(config, "run", i) for i in range(50)]
    assert first == [draw(MockConfig(seed=7), "run", i) for i in range(50)]
    assert first != [draw(MockConfig(seed=8), "run", i) for i in range(50)]
    no_failures = [draw(MockConfig(seed=7, fail_rate=0.0), "run", i) for i in range(50)]
    assert [d.work_s for d in no_failures] == [d.work_s for d in first]


def test_durations_are_lognormal_around_the_median() -> None:
    config = MockConfig(duration_median_s=8.0, duration_sigma=0.6)
    durations = [draw(config, "run", i).work_s for i in range(4000)]
    assert 7.5 < statistics.median(durations) < 8.5
    assert 0.55 < statistics.stdev([math.log(d) for d in durations]) < 0.65


def test_outcome_and_tool_rates() -> None:
    config = MockConfig(fail_rate=0.2, incomplete_rate=0.1, tool_rate=0.3)
    draws = [draw(config, "run", i) for i in range(4000)]
    failed = sum(d.outcome == "failed" for d in draws) / len(draws)
    incomplete = sum(d.outcome == "incomplete" for d in draws) / len(draws)
    tools = sum(d.tool_rounds > 0 for d in draws) / len(draws)
    assert 0.17 < failed < 0.23
    assert 0.08 < incomplete < 0.12
    assert 0.27 < tools < 0.33
    # Without a declared function nothing is asked, and the other draws do not move.
    untooled = [draw(config, "run", i, tools=False) for i in range(4000)]
    assert all(d.tool_rounds == 0 for d in untooled)
    assert [(d.work_s, d.outcome) for d in untooled] == [(d.work_s, d.outcome) for d in draws]
    responses = [draw(config, "response", i) for i in range(4000)]
    assert 0.27 < sum(d.tool_rounds > 0 for d in responses) / len(responses) < 0.33


def test_parallel_calls_are_drawn_per_round_and_only_when_allowed() -> None:
    config = MockConfig(tool_rate=1.0, tool_repeat_rate=1.0, max_tool_rounds=3)
    draws = [draw(config, "response", i, parallel=True) for i in range(2000)]
    rounds = [n for d in draws for n in d.calls]
    assert len(rounds) == 6000
    assert set(rounds) == {1, 2}
    assert 0.22 < rounds.count(2) / len(rounds) < 0.28  # parallel_calls_rate = 0.25
    serial = [draw(config, "response", i, parallel=False) for i in range(2000)]
    assert all(d.calls == (1, 1, 1) for d in serial)
    assert [d.work_s for d in serial] == [d.work_s for d in draws]
    assert all(d.calls == () for d in (draw(config, "run", i) for i in range(50)))


def test_repeat_rounds_are_bounded() -> None:
    config = MockConfig(tool_rate=1.0, tool_repeat_rate=1.0, max_tool_rounds=3)
    assert {draw(config, "run", i).tool_rounds for i in range(50)} == {3}


def test_plain_lifecycle() -> None:
    j = job(work_s=10.0)
    assert snapshot(j, T0).status == "queued"
    assert snapshot(j, T0 + 0.99).started_at is None
    running = snapshot(j, T0 + 1.0)
    assert (running.status, running.started_at) == ("in_progress", T0 + 1.0)
    assert running.expires_at == T0 + 600
    assert snapshot(j, T0 + 10.99).status == "in_progress"
    done = snapshot(j, T0 + 11.0)
    assert (done.status, done.terminal_at, done.expires_at) == ("completed", T0 + 11.0, None)


def test_failed_and_incomplete_end_when_the_work_ends() -> None:
    assert snapshot(job(outcome="failed"), T0 + 11).status == "failed"
    assert snapshot(job(outcome="incomplete"), T0 + 11).status == "incomplete"


def test_tool_round_pauses_the_work_clock() -> None:
    j = job(work_s=10.0, rounds=1)
    asked = snapshot(j, T0 + 6.0)  # start 1 + half of the work
    assert (asked.status, asked.pending_round, asked.asked_at) == ("requires_action", 1, T0 + 6)
    assert asked.expires_at == T0 + 26.0  # the action's deadline, sooner than the run's
    j.submissions.append(T0 + 9.0)
    j.tool_outputs.append("out")
    assert snapshot(j, T0 + 13.99).status == "in_progress"
    assert snapshot(j, T0 + 14.0).status == "completed"  # 3 s paused
    assert snapshot(j, T0 + 14.0).rounds_asked == 1


def test_repeated_rounds_at_thirds() -> None:
    j = job(work_s=9.0, rounds=2, queue_s=0.0)
    assert snapshot(j, T0 + 3.0).pending_round == 1
    j.submissions.append(T0 + 4.0)
    assert snapshot(j, T0 + 6.99).status == "in_progress"
    assert snapshot(j, T0 + 7.0).pending_round == 2
    j.submissions.append(T0 + 7.5)
    assert snapshot(j, T0 + 10.5).status == "completed"


def test_unanswered_action_expires() -> None:
    j = job(work_s=10.0, rounds=1, action_expiry_s=20.0)
    snap = snapshot(j, T0 + 26.0)
    assert (snap.status, snap.expired_by, snap.terminal_at) == ("expired", "action", T0 + 26.0)
    assert snapshot(j, T0 + 25.99).status == "requires_action"


def test_run_expiry() -> None:
    j = job(work_s=1_000.0, run_expiry_s=30.0)
    assert snapshot(j, T0 + 29.9).status == "in_progress"
    snap = snapshot(j, T0 + 30.0)
    assert (snap.status, snap.expired_by, snap.expires_at) == ("expired", "run", T0 + 30.0)


def test_cancel_goes_through_cancelling() -> None:
    j = job(work_s=10.0)
    j.cancel_at = T0 + 5.0
    assert snapshot(j, T0 + 5.2).status == "cancelling"
    snap = snapshot(j, T0 + 5.5)
    assert (snap.status, snap.terminal_at, snap.started_at) == ("cancelled", T0 + 5.5, T0 + 1.0)
    assert snapshot(j, T0 + 4.0).status == "in_progress"  # the past is unchanged


def test_cancel_while_queued_never_started() -> None:
    j = job(work_s=10.0)
    j.cancel_at = T0 + 0.2
    assert snapshot(j, T0 + 2.0).started_at is None
