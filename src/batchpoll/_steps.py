"""The scheduler loop and each job's steps: check, answer tool calls, fetch, cancel, retry.

One scheduler task sleeps until the earliest job is due (or a sooner one arrives), takes a
CHECK token from the budget, and only then picks the job to check, so the token goes to the
best due job at that moment. The check runs in its own task (bounded by
``max_concurrency``); its follow-up requests (tool-output submit, reply fetch, cancel) take
their own tokens at their own priority. A failed request never sleeps in a task: the job goes
back in the heap with a backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any

from ._budget import Priority, Ticket
from ._create import create_job
from ._engine import _EARLY_S, Engine, priority_of
from ._failures import ErrorCode, Failure, FailureKind
from ._log import log
from ._outcome import ErrorInfo, Status
from ._record import CHECK, FETCH, SUBMIT, Record
from ._resend import Verdict, after_create_failure
from ._sending import HookRefused, Sending
from ._tokens import RequestTooLargeError
from ._tools import ToolCallFailed, run_tool_calls
from .kinds import Ids, JobKind, Reply, Snapshot

__all__ = ["Runner"]

# Due steps one task runs back to back before it lets the scheduler look again.
_STEPS_PER_TASK = 32


class Runner:
    """The scheduler task and the steps of a job, on the engine's state (``_engine``): the
    runner decides nothing about *when* (the engine's schedule does) and keeps no job state
    of its own; it takes tokens, makes the requests and acts on what they return."""

    __slots__ = ("_e", "_slots")

    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self._slots = asyncio.Semaphore(engine.max_concurrency)  # step tasks at once

    async def create(
        self,
        kind: JobKind,
        params: Mapping[str, Any],
        key: str | None,
        hint_s: float | None = None,
        ambiguous: str | None = None,
    ) -> Record:
        """A new job (``_create``): a created one is scheduled, a finished one concluded."""
        return await create_job(self._e, self._conclude, kind, params, key, hint_s, ambiguous)

    async def scheduler(self) -> None:
        while True:
            due = self._e.heap.next_due()
            now = self._e.clock.now()
            if due is None or due > now + _EARLY_S:
                self._e.wake.clear()
                await self._e.clock.wait(self._e.wake, None if due is None else due - now)
                continue
            await self._slots.acquire()
            # A retried submit at the head takes a submit's token: creates never go first.
            priority = priority_of(due)
            try:
                ticket = await self._e.budget.acquire(priority)
            except BaseException:
                self._slots.release()
                raise
            # Pick the job only now that the token is ours: the best due job at this moment.
            job = self._e.pick_due(self._e.clock.now() + _EARLY_S)
            if job is None:  # it ended meanwhile; the token goes to the next one
                ticket.release()
                self._slots.release()
                continue
            self._e.spawn(self._run_due, job, ticket)
            # Let the step start before asking for the next token: queued for one meanwhile,
            # the scheduler would stop the step from chaining to the next due job.
            await asyncio.sleep(0)

    async def _run_due(self, job: Record, ticket: Ticket) -> None:
        """The step of a due job; then, while a token is free at once and another job is
        due, that one's step in the same task (up to ``_STEPS_PER_TASK``): a task per check
        was the largest cost of a check when thousands are due."""
        try:
            for _ in range(_STEPS_PER_TASK):
                try:
                    await self._step(job, ticket)
                except Exception as exc:  # a bug must not take the other jobs down
                    log.exception("batchpoll.job.internal_error", job=job.key)
                    self._e.finish(
                        job,
                        Status.ERROR,
                        error=ErrorInfo(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"),
                    )
                ticket.release()  # no-op when the request used it
                following = self._e.take_due_now()
                if following is None:
                    return
                job, ticket = following
        finally:
            ticket.release()
            self._slots.release()

    async def _step(self, job: Record, ticket: Ticket) -> None:
        if job.done():
            return
        x = job.extras  # one read of the side fields (each read through the record is a call)
        action = x.action
        if action == SUBMIT:
            await self._submit(job, paid=ticket)
            return
        if action == FETCH:
            await self._fetch(job, paid=ticket)
            return
        hinted = x.hinted
        if hinted:
            job.hinted = False
        try:
            reply = await self._e.send(
                job, Priority.CHECK, lambda: job.kind.check(self._e.client, job.ids), paid=ticket
            )
        except Exception as exc:
            job.hinted = job.hinted or hinted  # the retry still acts on the push
            self._retry_or_end(job, self._e.on_failure(exc, job))
            return
        job.checks += 1
        job.checks_since_origin += 1
        self._e.jobs.checks += 1
        snapshot = reply.value
        now = self._e.clock.now()  # one read for what the reply taught and what comes next
        if self._e.planner.learn(job, snapshot, now - job.origin_at, hinted=hinted):
            self._e.replan()  # the class is due a refresh (_replan)
        self._e.observe(job, snapshot)
        more = self._settle(job, snapshot, now)
        if more is not None:
            await more

    async def _conclude(self, job: Record, snapshot: Snapshot, now: float | None = None) -> None:
        """Act on a fresh snapshot: finish, answer tool calls, or schedule the next check
        (``now``: the clock as the snapshot arrived, when the caller just read it)."""
        more = self._settle(job, snapshot, now)
        if more is not None:
            await more

    def _settle(
        self, job: Record, snapshot: Snapshot, now: float | None
    ) -> Coroutine[Any, Any, None] | None:
        """``_conclude`` without a coroutine of its own for what needs no request (a check
        that finds the job running is most checks): the request to await, else None."""
        if snapshot.terminal:
            if snapshot.status == "completed" and job.kind.needs_fetch(snapshot):
                return self._fetch(job)
            self._e.finish(
                job,
                Status(snapshot.status),
                output_text=snapshot.output_text,
                error=snapshot.error,
                result=snapshot.result,
            )
            return None
        if snapshot.status == "requires_action" and snapshot.tool_calls:
            return self._answer(job, snapshot)
        if self._e.past_deadline(job, now):
            return self._time_out(job)
        # A push that came while this check was under way: look again at once.
        self._e.schedule(job, 0.0 if job.hinted else None, now=now)
        return None

    async def _answer(self, job: Record, snapshot: Snapshot) -> None:
        """A round of tool calls: run them all, then send every output in one request."""
        limit = self._e.tool_settings.max_rounds
        error = None
        if job.rounds >= limit:
            error = ErrorInfo(
                ErrorCode.MAX_ROUNDS,
                f"the job asked for round {job.rounds + 1} of tool calls; "
                f"ToolSettings.max_rounds is {limit}",
            )
        else:
            try:
                job.outputs = await run_tool_calls(
                    snapshot.tool_calls, self._e.tools, self._e.tool_settings
                )
            except ToolCallFailed as failed:
                error = failed.error
        if error is not None:
            if not job.kind.chained:  # a waiting run would only expire; a response is done
                await self._cancel(job)
            self._e.finish(job, Status.ERROR, error=error)
            return
        if not job.params and snapshot.model:  # a tracked job: continue with its model
            job.params = job.kind.prepare({"model": snapshot.model}, self._e.tool_specs)
        await self._submit(job)

    async def _submit(self, job: Record, *, paid: Ticket | None = None) -> None:
        job.action = SUBMIT
        outputs, ids, params = job.outputs, job.ids, job.params
        # A continuation creates the chain's next response: it holds a slot of
        # ``max_concurrent_creates`` too, ahead of every create. A token already granted
        # (``paid``) must not wait for one: without a free slot it is given up.
        in_doubt = self._e.in_doubt if job.kind.chained else None
        if in_doubt is not None and (paid is None or not in_doubt.try_acquire()):
            if paid is not None:
                paid.release()
                paid = None
            await in_doubt.acquire(urgent=True)
        hooks = self._e.hooks
        sending = None
        if hooks is not None and job.kind.chained:  # a continuation: as a create
            sending = Sending(hooks, job.key, continuation=True)

        def submit() -> Awaitable[Reply[tuple[Ids, Snapshot]]]:
            return job.kind.submit_tool_outputs(self._e.client, ids, outputs, params)

        try:
            reply = await self._e.send(
                job,
                Priority.SUBMIT,
                submit if sending is None else sending.around(submit),
                paid=paid,
                body=job.kind.metered(ids, outputs, params),
            )
        except RequestTooLargeError as too_large:
            self._e.finish(job, Status.ERROR, error=too_large.error_info())
            return
        except HookRefused as refused:  # nothing was sent
            self._e.finish(job, Status.ERROR, error=ErrorInfo(ErrorCode.INTERNAL, str(refused)))
            return
        except Exception as exc:
            failure = self._e.on_failure(exc, job)
            if job.kind.chained:  # the next response may exist: as a create would be
                mode = self._e.poll.ambiguous_creates
                verdict = after_create_failure(failure, job.error_streak + 1, mode)
                if sending is not None:
                    sending.failed(failure, resend=verdict is Verdict.RESEND)
                if verdict in (Verdict.RESEND, Verdict.UNCERTAIN):
                    event = "batchpoll.job.continuation_retried"
                    if not self._e.send_again(job, failure, verdict, "continuation", event):
                        return
            self._retry_or_end(job, failure, urgent=True)
            return
        finally:
            if in_doubt is not None:
                in_doubt.release()
        new_ids, snapshot = reply.value
        if sending is not None:
            sending.sent(new_ids)
        job.rounds += 1
        if new_ids != job.ids:
            self._e.jobs.push.rekey(job, new_ids, self._e.clock.now())
        job.action, job.outputs = CHECK, ()
        job.restart_origin(self._e.clock.now())
        job.last_age = 0.0
        self._e.observe(job, snapshot)
        await self._conclude(job, snapshot)

    async def _fetch(self, job: Record, *, paid: Ticket | None = None) -> None:
        job.action = FETCH
        try:
            reply = await self._e.send(
                job,
                Priority.FETCH,
                lambda: job.kind.fetch_output(self._e.client, job.ids),
                paid=paid,
            )
        except Exception as exc:
            self._retry_or_end(job, self._e.on_failure(exc, job))
            return
        self._e.finish(job, Status.COMPLETED, output_text=reply.value)

    async def _cancel(self, job: Record) -> None:
        """Best effort, one attempt: the job is ending anyway."""
        try:
            await self._e.send(
                job, Priority.CANCEL, lambda: job.kind.cancel(self._e.client, job.ids)
            )
        except Exception as exc:
            failure = self._e.on_failure(exc, job)
            log.info("batchpoll.job.cancel_failed", job=job.key, error=failure.error.type)

    async def _time_out(self, job: Record) -> None:
        model = self._e.planner.model(job)
        if model is not None:
            model.observe(self._e.clock.now() - job.origin_at)  # right-censored: still running
        if self._e.poll.cancel_on_timeout:
            await self._cancel(job)
        timeout = self._e.planner.poll_of(job.kind).timeout_s
        self._e.finish(
            job,
            Status.TIMED_OUT,
            error=ErrorInfo(ErrorCode.TIMED_OUT, f"no result within {timeout} s"),
        )

    def _retry_or_end(self, job: Record, failure: Failure, *, urgent: bool = False) -> None:
        if failure.kind is FailureKind.JOB and job.action == SUBMIT and job.kind.chained:
            # A refused continuation (400 previous_response_not_found, 404, ...) stays refused:
            # the response it continues is finished and will not change.
            error = failure.error
            message = f"the continuation was refused: {error.message}"
            self._e.finish(job, Status.ERROR, error=ErrorInfo(error.type, message))
            return
        if failure.kind is FailureKind.JOB and job.action == SUBMIT and job.refusals < 2:
            job.refusals += 1
            # Refused outputs (400) mostly mean the run moved on: it expired or was cancelled
            # meanwhile. One check tells which, and that state is the honest outcome.
            log.info("batchpoll.job.submit_refused", job=job.key, error=failure.error.message)
            job.action, job.outputs = CHECK, ()
            self._e.schedule(job, 0.0)
            return
        if failure.kind in (FailureKind.FATAL, FailureKind.JOB):
            self._e.finish(job, Status.ERROR, error=failure.error)
            return
        if self._e.past_deadline(job):
            self._e.finish(job, Status.TIMED_OUT, error=failure.error)
            return
        job.error_streak += 1
        job.retry_after_s = failure.retry_after_s
        log.info(
            "batchpoll.job.retry", job=job.key, error=failure.error.type, streak=job.error_streak
        )
        if self._e.hooks is not None:
            self._e.hooks.retried(job.key, failure.error, job.error_streak)
        if urgent:  # a tool-output submit: the run expires if we wait long
            self._e.schedule_urgent(job, min(self._e.next_delay(job, self._e.clock.now()), 1.0))
        else:
            self._e.schedule(job)
