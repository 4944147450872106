"""Every HTTP attempt the poller makes is charged here, and every answer teaches the budgets.

A request takes, in this order: its estimated tokens from the token budget (only requests that
carry a prompt: a Responses create or continuation, and only with ``tpm``), then a request token
from the shared budget and from its class's budget. Tokens first, because a request that waits
for tokens must not sit on a request token meanwhile (checks would starve behind it).

After the attempt, the reply's ``x-ratelimit-*`` headers go to both budgets, a 429's too (its
headers are as true as a 200's). A token grant is settled when the server answered (it counted
the request), refunded when it certainly did not (a 429, a refused connection). A 429 for
tokens pauses only that model's tokens: checks cost none, and they go on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from ._budget import Budget, Priority, Ticket
from ._estimate import estimate_tokens
from ._failures import Failure, FailureKind, classify
from ._tokens import TokenBudget, TokenGrant
from .kinds import Reply

__all__ = ["CLASS_OF", "Charger"]

T = TypeVar("T")

CLASS_OF = {
    Priority.SUBMIT: "submit",
    Priority.CANCEL: "cancel",
    Priority.CHECK: "check",
    Priority.FETCH: "fetch",
    Priority.CREATE: "create",
}


class Charger:
    """The poller's budgets, and the one way to spend them."""

    __slots__ = (
        "_class_budgets",
        "_create_share",
        "budget",
        "class_budgets",
        "rate_limited",
        "requests",
        "tokens",
        "transient",
    )

    def __init__(
        self,
        budget: Budget,
        class_budgets: Mapping[str, Budget],
        tokens: TokenBudget | None,
        *,
        create_share: Callable[[], float] | None = None,
    ) -> None:
        """``create_share``: the owner's rule for how much waiting creates may take from
        checks and fetches now; every create brings it to the budgets it queues at."""
        self.budget = budget
        self._create_share = create_share
        self._class_budgets = dict(class_budgets)
        # Whether any request class has a budget of its own (read per check: no property).
        self.class_budgets = bool(self._class_budgets)
        self.tokens = tokens
        self.requests = 0  # HTTP attempts that took a request token
        self.rate_limited = 0  # 429s seen
        self.transient = 0  # 5xx, connection errors, timeouts, malformed bodies

    def budgets(self) -> list[Budget]:
        return [self.budget, *self._class_budgets.values()]

    def budgets_for(self, priority: Priority) -> list[Budget]:
        extra = self._class_budgets.get(CLASS_OF[priority])
        return [self.budget] if extra is None else [self.budget, extra]

    async def request(
        self,
        priority: Priority,
        call: Callable[[], Awaitable[Reply[T]]],
        *,
        paid: Ticket | None = None,
        body: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> Reply[T]:
        """One attempt: a token from every budget of its class (``paid``: the main budget's
        is already held), each ticket released when the attempt ends, reply or not.
        ``body``: the request's prompt-carrying body, charged its estimated tokens
        (``RequestTooLargeError`` when they exceed the model's whole limit); ``model``: the
        job's model, whose token headers a reply without ``body`` teaches."""
        grant: TokenGrant | None = None
        if body is not None and self.tokens is not None:
            model = str(body.get("model") or "-")
            grant = await self.tokens.reserve(model, estimate_tokens(body), priority)
        # No context manager, no list: this runs once per check, the hottest path there is.
        extra = self._class_budgets.get(CLASS_OF[priority]) if self._class_budgets else None
        share = self._create_share if priority is Priority.CREATE else None
        try:
            ticket = (
                paid
                if paid is not None
                else await self.budget.acquire(priority, create_share=share)
            )
        except BaseException:
            if grant is not None:
                grant.refund()
            raise
        extra_ticket: Ticket | None = None
        try:
            if extra is not None:
                extra_ticket = await extra.acquire(priority, create_share=share)
            self.requests += 1
            if grant is not None:
                grant.sending()
            reply = await call()
        except Exception as exc:
            if grant is not None:
                failure = classify(exc)
                if failure.sent_nothing:  # a 429, a refused connection, "Request too large"
                    grant.refund(headers=failure.headers)
                else:  # answered (or maybe sent): the server may have counted it
                    grant.settle(headers=failure.headers)
            raise
        finally:
            ticket.release()
            if extra_ticket is not None:
                extra_ticket.release()
        headers = reply.headers
        if headers:
            self.budget.on_headers(headers)
            if extra is not None:
                extra.on_headers(headers)
        if grant is not None:
            grant.settle(headers=headers)
        elif model is not None and self.tokens is not None:
            self.tokens.on_headers(model, headers)
        return reply

    def on_failure(self, exc: Exception, *, model: str | None = None) -> Failure:
        """Classify a failed attempt and let the budgets react: a 429 for requests pauses the
        request budgets, one for tokens that model's tokens; either teaches its headers."""
        failure = classify(exc)
        if failure.headers:
            for b in self.budgets():
                b.on_headers(failure.headers)
        if failure.kind is FailureKind.RATE_LIMITED:
            self.rate_limited += 1
            if failure.limit == "tokens":
                if self.tokens is not None and model is not None:
                    self.tokens.on_rate_limited(model, failure.retry_after_s)
            else:
                for b in self.budgets_for(Priority.CHECK):
                    b.on_rate_limited(failure.retry_after_s)
        elif failure.kind is FailureKind.TRANSIENT:
            self.transient += 1
        return failure

    async def aclose(self) -> None:
        for b in self.budgets():
            await b.aclose()
        if self.tokens is not None:
            await self.tokens.aclose()
