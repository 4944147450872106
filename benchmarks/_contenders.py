"""The B1 contenders: how people poll today, and batchpoll, on the same workload.

Each contender gets N prompts and a fresh plain ``AsyncOpenAI`` client (the SDK's default
retries on) and records what it finished in a ``Results`` object. All create with one
request (``threads.create_and_run``) and read the reply with ``messages.list``, so only the
polling differs. Exceptions are not caught unless the contender itself would catch them: a
script that dies of a ``RateLimitError`` is what its users get.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter
from openai import AsyncOpenAI
from openai.types.beta.threads import Run

import batchpoll

Limited = Callable[..., Awaitable[Any]]  # limited(call, *args, **kwargs): through the bucket
ASSISTANT = "asst_bench"
TERMINAL = ("completed", "failed", "expired", "cancelled", "incomplete")


@dataclass(slots=True)
class Results:
    """What one contender produced: per item its final status and reply text."""

    prompts: list[str]
    finished: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    tool_outputs: dict[str, list[str]] = field(default_factory=dict)  # by prompt, in order
    started: float = field(default_factory=time.monotonic)
    last_finish: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, i: int, status: str, text: str | None = None) -> None:
        self.finished[i] = (status, text)
        self.last_finish = time.monotonic()

    def answer(self, arguments: str) -> str:
        """The tool: ``lookup(query, round)`` → ``result <round>: <query>``, remembered."""
        args = json.loads(arguments)
        return self.lookup(**args)

    def lookup(self, query: str, round: int) -> str:
        output = f"result {round}: {query}"
        self.tool_outputs.setdefault(query, []).append(output)
        return output


def thread_param(prompt: str) -> Any:
    return {"messages": [{"role": "user", "content": prompt}]}


def _meta(i: int) -> dict[str, str]:
    return {"batchpoll_item": str(i)}


async def _reply_text(client: AsyncOpenAI, run: Run) -> str | None:
    """The seed's way: the newest message of the thread, first content part."""
    messages = await client.beta.threads.messages.list(thread_id=run.thread_id)
    if not messages.data or not messages.data[0].content:
        return None
    part = messages.data[0].content[0]
    return part.text.value if part.type == "text" else None


def _tool_outputs(run: Run, results: Results) -> list[Any]:
    assert run.required_action is not None
    return [
        {"tool_call_id": call.id, "output": results.answer(call.function.arguments)}
        for call in run.required_action.submit_tool_outputs.tool_calls
    ]


# --- the seed tutorial's loop, per item in its own coroutine --------------------------------


async def _loop_item(
    client: AsyncOpenAI, results: Results, i: int, first_wait: float, grow: float, cap: float
) -> None:
    prompt = results.prompts[i]
    run = await client.beta.threads.create_and_run(
        assistant_id=ASSISTANT, thread=thread_param(prompt), metadata=_meta(i)
    )
    wait, start = first_wait, time.monotonic()
    while True:
        if time.monotonic() - start > 60.0:
            results.record(i, "timeout")
            return
        run = await client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
        if run.status == "completed":
            results.record(i, "completed", await _reply_text(client, run))
            return
        if run.status in ("failed", "expired", "cancelled"):
            results.record(i, run.status)
            return
        await asyncio.sleep(wait)
        wait = min(wait * grow, cap)


async def seed_loop(client: AsyncOpenAI, results: Results, rpm: int) -> None:
    """The tutorial: backoff 0.5 s ×1.5 capped at 5 s, 60 s timeout, no tool handling."""
    n = len(results.prompts)
    await asyncio.gather(*(_loop_item(client, results, i, 0.5, 1.5, 5.0) for i in range(n)))


async def loop_100ms(client: AsyncOpenAI, results: Results, rpm: int) -> None:
    """The same loop checking every 100 ms ("to feel responsive")."""
    n = len(results.prompts)
    await asyncio.gather(*(_loop_item(client, results, i, 0.1, 1.0, 0.1) for i in range(n)))


# --- the SDK's own helper --------------------------------------------------------------------


async def _sdk_item(client: AsyncOpenAI, results: Results, i: int) -> None:
    prompt = results.prompts[i]
    run = await client.beta.threads.create_and_run_poll(
        assistant_id=ASSISTANT, thread=thread_param(prompt), metadata=_meta(i)
    )
    while run.status == "requires_action" and run.required_action is not None:
        run = await client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=_tool_outputs(run, results)
        )
    text = await _reply_text(client, run) if run.status == "completed" else None
    results.record(i, run.status, text)


async def sdk_poll(client: AsyncOpenAI, results: Results, rpm: int) -> None:
    """``create_and_run_poll`` per item (1 s fixed interval), tool rounds answered."""
    n = len(results.prompts)
    await asyncio.gather(*(_sdk_item(client, results, i) for i in range(n)))


# --- a careful hand-built version --------------------------------------------------------------


async def _careful_item(client: AsyncOpenAI, results: Results, i: int, limited: Limited) -> None:
    prompt = results.prompts[i]
    threads = client.beta.threads
    try:
        run: Run = await limited(
            threads.create_and_run,
            assistant_id=ASSISTANT,
            thread=thread_param(prompt),
            metadata=_meta(i),
        )
        wait, start = 0.5, time.monotonic()
        while True:
            if time.monotonic() - start > 60.0:
                results.record(i, "timeout")
                return
            run = await limited(threads.runs.retrieve, run.id, thread_id=run.thread_id)
            if run.status == "completed":
                results.record(i, "completed", await limited(_reply_text, client, run))
                return
            if run.status in TERMINAL:
                results.record(i, run.status)
                return
            if run.status == "requires_action" and run.required_action is not None:
                run = await limited(
                    threads.runs.submit_tool_outputs,
                    run_id=run.id,
                    thread_id=run.thread_id,
                    tool_outputs=_tool_outputs(run, results),
                )
                wait = 0.5
                continue
            await asyncio.sleep(wait)
            wait = min(wait * 1.5, 5.0)
    except Exception as exc:  # careful: one item's failure does not end the others
        results.record(i, f"error: {type(exc).__name__}")


async def careful(client: AsyncOpenAI, results: Results, rpm: int) -> None:
    """The seed's loop done carefully: every request through ONE shared aiolimiter bucket
    (quantized per second, as OpenAI enforces), tool rounds answered, per-item errors caught.
    The SDK's default retries stay on (they go around the limiter: the trap of DESIGN §2)."""
    limiter = AsyncLimiter(rpm / 60.0, 1.0)

    async def limited(call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        async with limiter:
            return await call(*args, **kwargs)

    n = len(results.prompts)
    await asyncio.gather(*(_careful_item(client, results, i, limited) for i in range(n)))


# --- batchpoll -------------------------------------------------------------------------------


async def with_batchpoll(
    client: AsyncOpenAI,
    results: Results,
    rpm: int,
    side: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """``batchpoll.Poller`` with its defaults: one shared budget, tool handler, as_completed.

    Samples the budget's rate every 0.5 s; ``side`` runs alongside (B4's competing client).
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    samples: list[tuple[float, float]] = []
    async with batchpoll.Poller(client, rpm=rpm, tools={"lookup": results.lookup}) as poller:

        async def sample() -> None:
            while True:
                samples.append((loop.time() - start, poller.stats().rate_rpm))
                await asyncio.sleep(0.5)

        async def create(i: int) -> batchpoll.Job:
            return await poller.create_and_run(
                key=str(i),
                assistant_id=ASSISTANT,
                thread=thread_param(results.prompts[i]),
                metadata=_meta(i),
            )

        helpers = [loop.create_task(sample())]
        if side is not None:
            helpers.append(loop.create_task(side()))
        try:
            jobs = await asyncio.gather(*(create(i) for i in range(len(results.prompts))))
            async for outcome in poller.as_completed(jobs):
                results.record(int(outcome.key), outcome.status.value, outcome.output_text)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        stats = poller.stats()
    rates = [rate for _, rate in samples] or [stats.rate_rpm]
    results.extra["poller_stats"] = {
        "requests": stats.requests,
        "checks": stats.checks,
        "rate_limited": stats.rate_limited,
        "rate_rpm": stats.rate_rpm,
        "rate_rpm_min": min(rates),
        "rate_rpm_mean": sum(rates) / len(rates),
        "target_rpm": stats.target_rpm,
    }
    results.extra["rate_samples"] = samples


Contender = Callable[[AsyncOpenAI, Results, int], Awaitable[None]]

CONTENDERS: dict[str, tuple[str, Contender]] = {
    "seed": ("seed tutorial's loop, one coroutine per item", seed_loop),
    "sdk": ("SDK `create_and_run_poll` per item", sdk_poll),
    "100ms": ("100 ms loop per item", loop_100ms),
    "careful": ("careful: one shared aiolimiter bucket + tool handling", careful),
    "batchpoll": ("**batchpoll** (defaults)", with_batchpoll),
}
