"""Instrumentation hooks see every request, retry, 429 and finish; a broken one loses nothing."""

from __future__ import annotations

from collections import Counter

from batchpoll import ErrorInfo, Hooks, Outcome, Poller, Priority, Status, testing
from batchpoll._hooks import fan_out


class Counting(Hooks):
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.finished: list[Outcome] = []

    def request_charged(self, priority: Priority, job: str | None) -> None:
        self.seen[f"request:{priority.name.lower()}"] += 1

    def retried(self, job: str, error: ErrorInfo, streak: int) -> None:
        assert streak >= 1
        self.seen["retried"] += 1

    def throttled(self, limit: str, retry_after_s: float | None) -> None:
        assert limit in ("requests", "tokens")
        self.seen["throttled"] += 1

    def job_finished(self, outcome: Outcome) -> None:
        self.finished.append(outcome)


class Broken(Hooks):
    def job_finished(self, outcome: Outcome) -> None:
        raise RuntimeError("the exporter is down")


def test_hooks_count_what_the_poller_did() -> None:
    counting = Counting()

    async def main() -> tuple[int, int]:
        # The server answers 30 % of requests 500, and its limit drops from 600 RPM to 60 after
        # 5 s: the poller's requests of that second draw 429s.
        _, client = testing.mock_client(
            rpm=600,
            rate_schedule=[(5.0, 60)],
            duration_median_s=20,
            error_rate=0.3,
            fail_rate=0.0,
            tool_rate=0.0,
            seed=5,
        )
        hooks = [counting, Broken()]
        async with Poller(client, rpm=600, clock=testing.clock(), seed=2, hooks=hooks) as p:
            jobs = [await p.create_response(model="m", input=f"q{i}") for i in range(6)]
            for job in jobs:
                await job
            stats = p.stats()
        return stats.requests, stats.done

    requests, done = testing.run(main)
    assert sum(n for k, n in counting.seen.items() if k.startswith("request:")) == requests
    assert counting.seen["request:create"] >= 6
    assert counting.seen["retried"] >= 1
    assert counting.seen["throttled"] >= 1
    assert len(counting.finished) == done == 6  # Broken raised for each: every job still ended
    assert {o.status for o in counting.finished} <= {Status.COMPLETED, Status.ERROR}


def test_no_hooks_no_calls() -> None:
    async def main() -> object:
        _, client = testing.mock_client(fail_rate=0.0, tool_rate=0.0)
        async with Poller(client, rpm=600, clock=testing.clock()) as p:
            return p._engine.hooks

    assert testing.run(main) is None


def test_every_hook_reaches_every_listener() -> None:
    names = [n for n in vars(Hooks) if not n.startswith("_") and callable(getattr(Hooks, n))]
    assert "create_maybe_sent" in names
    heard: list[tuple[str, int]] = []

    def recorder(i: int) -> Hooks:
        class Recorder(Hooks):
            pass

        for name in names:
            setattr(Recorder, name, lambda self, *args, _n=name: heard.append((_n, i)))
        return Recorder()

    hooks = fan_out([recorder(1), recorder(2)])
    assert hooks is not None
    for name in names:
        arity = getattr(Hooks, name).__code__.co_argcount - 1
        getattr(hooks, name)(*([None] * arity))
    assert heard == [(name, i) for name in names for i in (1, 2)]
