"""Re-planning (``_replan``) and cold-class exploration (``_classes``), in plain numbers."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from batchpoll._classes import PROBES, Explore, class_of, kind_wide, size_bucket
from batchpoll._heap import DueHeap
from batchpoll._learn import DurationModel
from batchpoll._planner import Load, Planner
from batchpoll._policy import PollSettings
from batchpoll._record import Record
from batchpoll._replan import MIN_NEW, Refresh, move, policy_due
from batchpoll.kinds import ResponsesJobs

KIND = ResponsesJobs()


def job(i: int) -> Record:
    j = Record(f"job-{i}", KIND, {"response_id": f"r{i}"}, created_at=0.0)
    j.klass = "responses:m"
    return j


def test_move_pushes_only_jobs_whose_plan_moved() -> None:
    heap: DueHeap[Record] = DueHeap()
    jobs = [job(i) for i in range(3)]
    for j, due in zip(jobs, (10.0, 10.0, 10.0), strict=True):
        heap.push(j, due)
    planned = {"job-0": 4.0, "job-1": 10.2, "job-2": None}  # sooner; within tolerance; unknown
    moved = move(jobs, heap, 2.0, lambda j: planned[j.key], lambda j, _x, p: p)
    assert moved == 1
    assert jobs[0].due == 4.0
    assert jobs[1].due == 10.0
    assert heap.pop_due(4.0) is jobs[0]  # the old entry is stale: skipped, not popped twice
    assert heap.pop_due(9.0) is None
    assert len(heap) == 2


def test_a_job_whose_plan_has_passed_is_not_pushed_back_again_and_again() -> None:
    # The plan says "check at 2.7 s" at 4 s; the policy's floor gives 4.25 s. A job already
    # due at 4.1 s stays: moving it to now + floor at every refresh would starve it.
    heap: DueHeap[Record] = DueHeap()
    j = job(0)
    heap.push(j, 4.1)
    assert move([j], heap, 4.0, lambda _: 2.7, lambda *_: 4.25) == 0
    assert j.due == 4.1


def test_waiting_submits_and_retries_are_not_moved() -> None:
    heap: DueHeap[Record] = DueHeap()
    a, b = job(0), job(1)
    a.error_streak = 1
    b.action = "submit"
    for j in (a, b):
        heap.push(j, 10.0)
    assert move([a, b], heap, 0.0, lambda _: 1.0, lambda *_: 1.0) == 0


def test_refresh_frequency_is_bounded() -> None:
    r = Refresh()
    due = [r.seen() for _ in range(MIN_NEW)]
    assert due == [False] * (MIN_NEW - 1) + [True]
    r.done(in_flight=10_000)
    # Then after a quarter of the checks seen so far (jobs in flight permitting), no sooner.
    refreshes = 0
    for _ in range(100_000):
        if r.seen():
            refreshes += 1
            r.done(in_flight=10_000)
    # Geometric while few checks are known (x1.25 up to the 10,000 in flight: ~40), then one
    # per 2,500 checks (40 in 100,000).
    assert 40 <= refreshes <= 90
    late = 0
    for _ in range(50_000):
        if r.seen():
            late += 1
            r.done(in_flight=10_000)
    assert late == 50_000 // 2_500


def test_ten_thousand_cold_jobs_make_at_most_probes_probes() -> None:
    explore = Explore()
    model = DurationModel()
    jobs = [job(i) for i in range(10_000)]
    probes = [j for j in jobs if explore.probe(j, model)]
    assert len(probes) == PROBES
    assert all(explore.probe(j, model) for j in probes)  # a probe stays one
    probes[0].outcome = cast(Any, "ended")  # any outcome: the job ended
    later = [j for j in jobs[PROBES:] if explore.probe(j, model)]
    assert len(later) == 1  # an ended probe is replaced, once
    for _ in range(model.min_observations):
        model.observe(1.0, 2.0)
    assert not any(explore.probe(j, model) for j in probes)  # trained: no more probes


def test_classes_and_their_kind() -> None:
    assert [size_bucket(c) for c in (0, 1_999, 2_000, 9_000, 10**9)] == [0, 0, 1, 3, 5]
    assert class_of("responses", {"model": "gpt-x", "input": "hi"}) == "responses:gpt-x"
    assert class_of("responses", {"model": "gpt-x", "input": "x" * 5_000}) == "responses:gpt-x#s2"
    assert class_of("assistants", {"assistant_id": "asst_1"}) == "assistants:asst_1"
    assert kind_wide("responses:gpt-x#s2|resumed") == "responses|resumed"
    assert kind_wide("responses:gpt-x") == "responses"


def test_a_refresh_moves_cold_planned_jobs_to_what_the_model_learned() -> None:
    planner = Planner(PollSettings(), tools=False, webhooks=None, uniform=random.Random(1).random)
    heap: DueHeap[Record] = DueHeap()
    load = Load(
        now=0.0, wall=0.0, head_due=None, on_server=500, rate_per_s=100.0, creates_waiting=False
    )
    jobs = [job(i) for i in range(500)]
    for j in jobs:
        due = planner.next_delay(j, load, pushed=False)
        heap.push(j, due)
    cold = sorted(j.due for j in jobs[PROBES:])
    model = planner.model(jobs[0])
    assert model is not None
    # The probes saw many end within their first second or two: every job is due sooner.
    for j in jobs[:PROBES]:
        j.last_age = 1.5
    for _ in range(40):
        model.observe(0.5, 1.5)
    planner._due.add("responses:m")
    later = Load(
        now=1.0, wall=0.0, head_due=None, on_server=500, rate_per_s=100.0, creates_waiting=False
    )
    moved = planner.refresh(jobs, heap, later, lambda _: False)
    assert moved >= 400
    assert max(j.due for j in jobs[PROBES:]) < cold[0]
    assert min(j.due for j in jobs[PROBES:]) >= 1.0


def test_a_response_not_stored_is_checked_within_its_retention() -> None:
    from batchpoll._retention import retention_gap

    assert retention_gap("responses", {"model": "m"}) == 300.0
    assert retention_gap("responses", {"model": "m", "store": True}) is None
    assert retention_gap("assistants", {}) is None
    poll = PollSettings(max_interval_s=3600.0, strategy="backoff")
    planner = Planner(poll, tools=False, webhooks=None, uniform=random.Random(1).random)
    load = Load(
        now=5000.0, wall=0.0, head_due=None, on_server=1, rate_per_s=10.0, creates_waiting=False
    )
    old = job(0)
    old.checks_since_origin = 20  # backoff: 30 % of a 5,000 s age would be 1,500 s
    assert planner.next_delay(old, load, pushed=False) <= 300.0
    old.params = {"store": True}
    assert planner.next_delay(old, load, pushed=False) > 1000.0


def test_a_re_plans_due_time_is_exactly_the_policys() -> None:
    # ``policy_due`` is ``Planner.next_delay`` in plain arithmetic for a waiting check with a
    # learned plan: the two must agree for every cap (deadline, expires_at, poll-after, the
    # retention of a response not stored, a run's action window, the fair-share floor).
    from batchpoll.kinds import AssistantsRuns

    runs = AssistantsRuns()
    rng = random.Random(7)
    for saturated in (False, True):
        planner = Planner(
            PollSettings(), tools=True, webhooks=None, uniform=random.Random(3).random
        )
        planner.learn_action_window(20.0)
        load = Load(
            now=40.0,
            wall=1_000.0,
            head_due=38.0 if saturated else None,
            on_server=300,
            rate_per_s=20.0,
            creates_waiting=False,
        )
        due_of = policy_due(
            load.now,
            load.wall,
            planner.poll.fair_share * 300 / 20.0 if saturated else 0.0,
            random.Random(3).random,
            planner.poll_of,
            planner._action_gap_of,
        )
        for i in range(300):
            j = Record(f"j{i}", runs if i % 3 == 0 else KIND, {"id": f"x{i}"}, created_at=0.0)
            j.klass = "assistants:a" if i % 3 == 0 else "responses:m"
            j.origin_at = rng.uniform(0.0, 39.0)
            j.last_age = rng.uniform(0.0, load.now - j.origin_at)
            j.checks_since_origin = 1
            if i % 4 == 0:
                j.deadline = load.now + rng.uniform(0.0, 30.0)
            if i % 5 == 0:
                j.poll_after_s = rng.uniform(0.0, 8.0)
            if i % 3 == 0 and i % 2 == 0:
                j.expires_at = load.wall + rng.uniform(-5.0, 20.0)
            if i % 7 == 0:
                j.params = {"store": True}
            age = planner.planned_age(j, load)
            assert age is not None
            expected = load.now + planner.next_delay(j, load, pushed=False)
            assert due_of(j, j.extras, j.origin_at + age) == pytest.approx(expected, abs=1e-9)
