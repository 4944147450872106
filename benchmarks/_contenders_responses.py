"""B1's Responses contenders: background responses with function calls, the ways people write
them today, and batchpoll.

Each contender gets the workload (prompts, ``max_output_tokens``, the limits) and a fresh plain
``AsyncOpenAI`` client with the SDK's default retries, and records per item its final status,
its text and the id of the chain's first response (the benchmark checks the text against the
mock's own draws for that response). Tool rounds are answered with ``lookup(query, round)`` →
``"result <round>: <query>"``, every call of a round in one continuation
(``previous_response_id`` + ``function_call_output`` items, ``model`` and ``tools`` re-sent).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter
from openai import AsyncOpenAI, RateLimitError
from openai.types.responses import Response

import batchpoll

MODEL = "gpt-4o-mini"
POLL_S = 2.0  # OpenAI's background-mode guide: ``sleep(2)`` between retrieves
# The function-calling guide's hand-written schema (batchpoll derives its own from the handler).
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look a query up (round: which round of tool calls this is).",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "round": {"type": "integer"}},
            "required": ["query", "round"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]


@dataclass(frozen=True, slots=True)
class Work:
    """What every contender is asked to do."""

    prompts: list[str]
    rpm: int
    tpm: int | None = None  # the token limit a contender may budget for (None: none binds)
    max_output_tokens: int | None = None

    def params(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.max_output_tokens is not None:
            extra["max_output_tokens"] = self.max_output_tokens
        return extra


@dataclass(slots=True)
class Results:
    """What one contender produced: per item its status, reply text and root response id."""

    work: Work
    finished: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    roots: dict[int, str] = field(default_factory=dict)
    lookups: int = 0
    started: float = field(default_factory=time.monotonic)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, i: int, status: str, text: str | None = None) -> None:
        self.finished[i] = (status, text)

    def answer(self, arguments: str) -> str:
        return self.lookup(**json.loads(arguments))

    def lookup(self, query: str, round: int) -> str:
        self.lookups += 1
        return f"result {round}: {query}"


def _meta(i: int) -> dict[str, str]:
    return {"batchpoll_item": str(i)}


def _outputs(response: Response, results: Results) -> list[dict[str, Any]]:
    """The function-calling guide's loop: one ``function_call_output`` per call asked."""
    return [
        {
            "type": "function_call_output",
            "call_id": item.call_id,
            "output": results.answer(item.arguments),
        }
        for item in response.output
        if item.type == "function_call"
    ]


def _final(i: int, response: Response, results: Results) -> None:
    text = response.output_text if response.status == "completed" else None
    results.record(i, response.status or "unknown", text)


# --- OpenAI's guide: one coroutine per item, retrieve every 2 s -----------------------------


async def _guide_item(client: AsyncOpenAI, results: Results, i: int) -> None:
    work = results.work
    response = await client.responses.create(
        model=MODEL,
        input=work.prompts[i],
        tools=TOOLS,  # type: ignore[arg-type]
        background=True,
        metadata=_meta(i),
        **work.params(),
    )
    results.roots[i] = response.id
    while True:
        while response.status in ("queued", "in_progress"):
            await asyncio.sleep(POLL_S)
            response = await client.responses.retrieve(response.id)
        outputs = _outputs(response, results)
        if response.status != "completed" or not outputs:
            break
        response = await client.responses.create(
            model=MODEL,
            previous_response_id=response.id,
            input=outputs,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            background=True,
            **work.params(),
        )
    _final(i, response, results)


async def guide(client: AsyncOpenAI, results: Results) -> None:
    """The background-mode guide's loop per item (``sleep(2)``, then ``retrieve``) with the
    function-calling guide's continuation, ``asyncio.gather``: the first exception the SDK's
    default retries let through ends the script."""
    n = len(results.work.prompts)
    await asyncio.gather(*(_guide_item(client, results, i) for i in range(n)))


# --- the careful version: one shared limiter, its own 429 retries ----------------------------

MAX_ATTEMPTS = 8


def careful_estimate(payload: Any, max_output_tokens: int | None) -> int:
    """What a careful user budgets per POST: everything sent as text, as JSON, at 4 characters
    per token (an overestimate: keys and quotes count too), plus ``max_output_tokens``."""
    return math.ceil(len(json.dumps(payload)) / 4) + (max_output_tokens or 0)


class CarefulLimits:
    """One ``AsyncLimiter`` for requests (rate / 60 per 1 s, as OpenAI quantizes), and for a
    token limit a second one of ``tpm`` per 60 s that a POST acquires its estimate from first.
    The client has ``max_retries=0``; a 429 is retried here, through the limiters again, after
    ``retry-after-ms`` (else exponential backoff with jitter), at most ``MAX_ATTEMPTS`` times."""

    def __init__(self, rpm: int, tpm: int | None) -> None:
        self.requests = AsyncLimiter(rpm / 60.0, 1.0)
        self.tpm = tpm
        self.tokens = None if tpm is None else AsyncLimiter(tpm, 60.0)
        self.retried = 0

    async def call(
        self, fn: Callable[..., Awaitable[Any]], /, *args: Any, tokens: int = 0, **kwargs: Any
    ) -> Any:
        for attempt in range(MAX_ATTEMPTS):
            if self.tokens is not None and self.tpm is not None and tokens:
                await self.tokens.acquire(min(tokens, self.tpm))
            async with self.requests:
                try:
                    return await fn(*args, **kwargs)
                except RateLimitError as exc:
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                    wait = _retry_after_s(exc)
            self.retried += 1
            if wait is None:
                wait = min(0.5 * 2**attempt, 8.0) * random.uniform(0.5, 1.0)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _retry_after_s(exc: RateLimitError) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                pass
    return None


async def _careful_item(client: AsyncOpenAI, results: Results, i: int, lim: CarefulLimits) -> None:
    work = results.work
    extra = work.params()
    try:
        prompt = work.prompts[i]
        response: Response = await lim.call(
            client.responses.create,
            model=MODEL,
            input=prompt,
            tools=TOOLS,
            background=True,
            metadata=_meta(i),
            tokens=careful_estimate([prompt, TOOLS], work.max_output_tokens),
            **extra,
        )
        results.roots[i] = response.id
        while True:
            while response.status in ("queued", "in_progress"):
                await asyncio.sleep(POLL_S)
                response = await lim.call(client.responses.retrieve, response.id)
            outputs = _outputs(response, results)
            if response.status != "completed" or not outputs:
                break
            response = await lim.call(
                client.responses.create,
                model=MODEL,
                previous_response_id=response.id,
                input=outputs,
                tools=TOOLS,
                background=True,
                tokens=careful_estimate([outputs, TOOLS], work.max_output_tokens),
                **extra,
            )
        _final(i, response, results)
    except Exception as exc:  # careful: one item's failure does not end the others
        results.record(i, f"error: {type(exc).__name__}")


async def careful(client: AsyncOpenAI, results: Results) -> None:
    """The guide's loop, every request through one shared limiter (two with a token limit),
    ``max_retries=0`` and its own 429 retries, per-item errors caught."""
    work = results.work
    lim = CarefulLimits(work.rpm, work.tpm)
    plain = client.with_options(max_retries=0)
    n = len(work.prompts)
    try:
        await asyncio.gather(*(_careful_item(plain, results, i, lim) for i in range(n)))
    finally:
        results.extra["careful_retries"] = lim.retried


# --- batchpoll -------------------------------------------------------------------------------


async def with_batchpoll(client: AsyncOpenAI, results: Results) -> None:
    """``Poller(client, rpm=, tpm=, tools=[lookup])`` with its defaults, ``create_response``
    per item, ``as_completed``."""
    work = results.work

    def lookup(query: str, round: int) -> str:
        """Look a query up (round: which round of tool calls this is)."""
        return results.lookup(query, round)

    async with batchpoll.Poller(client, rpm=work.rpm, tpm=work.tpm, tools=[lookup]) as poller:

        async def create(i: int) -> batchpoll.Job:
            return await poller.create_response(
                key=str(i),
                model=MODEL,
                input=work.prompts[i],
                metadata=_meta(i),
                **work.params(),
            )

        jobs = await asyncio.gather(*(create(i) for i in range(len(work.prompts))))
        async for outcome in poller.as_completed(jobs):
            i = int(outcome.key)
            if outcome.response_ids:
                results.roots[i] = outcome.response_ids[0]
            results.record(i, outcome.status.value, outcome.output_text)
        stats = poller.stats()
    figures: dict[str, Any] = {
        "requests": stats.requests,
        "checks": stats.checks,
        "rate_limited": stats.rate_limited,
        "rate_rpm": stats.rate_rpm,
        "target_rpm": stats.target_rpm,
    }
    if stats.tokens is not None:
        figures["tokens_reserved"] = stats.tokens.reserved
        figures["tokens_spent"] = stats.tokens.spent
        figures["tokens_rate_limited"] = stats.tokens.rate_limited
    results.extra["poller_stats"] = figures


Contender = Callable[[AsyncOpenAI, Results], Awaitable[None]]

CONTENDERS: dict[str, tuple[str, Contender]] = {
    "guide": ("OpenAI's guide loop (retrieve every 2 s), one coroutine per item", guide),
    "careful": ("careful: shared aiolimiter (+ token limiter), own 429 retries", careful),
    "batchpoll": ("**batchpoll** (defaults)", with_batchpoll),
}
