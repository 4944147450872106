"""Creating a job: the one request that must never take effect twice.

The create waits for its token at the lowest priority (and, with ``max_concurrent_creates``,
for a slot among the creates in doubt), goes out, and is sent again only as the core's one
rule says (``_resend.after_create_failure``): at once when it certainly had no effect, after a
failure that may have reached the server only as ``ambiguous_creates`` allows. The create
hooks (``_sending``) hear each attempt in those same terms. Once the server made the job, its
first check, age and deadline count from the reply, not from the wait for a token.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from ._budget import Priority
from ._classes import class_of
from ._engine import Engine
from ._failures import ErrorCode, FailureKind
from ._indoubt import slot_of
from ._log import log
from ._outcome import ErrorInfo, Status
from ._policy import retry_delay
from ._record import Record
from ._resend import Verdict, after_create_failure
from ._sending import HookRefused, Sending
from ._tokens import RequestTooLargeError
from .kinds import Ids, JobKind, Reply, Snapshot

__all__ = ["create_job"]


async def create_job(
    e: Engine,
    conclude: Callable[[Record, Snapshot], Coroutine[Any, Any, None]],
    kind: JobKind,
    params: Mapping[str, Any],
    key: str | None,
    hint_s: float | None,
    ambiguous: str | None,
) -> Record:
    """Create a job of ``kind`` and hand it to the schedule (``conclude``: the steps' act on
    a snapshot that is already final)."""
    e.ensure_open()
    params = kind.prepare(params, e.tool_specs)  # misuse raises before anything is sent
    await e.wait_for_room()  # max_in_flight
    job = e.new_job(kind, {}, key)
    job.params = params
    e.jobs.creating += 1
    try:
        reply = await _send_create(e, job, kind, params, ambiguous)
    except BaseException:
        if not job.done():  # the caller cancelled: the job must not stay live forever
            e.finish(
                job,
                Status.ERROR,
                error=ErrorInfo(ErrorCode.ABORTED, "the create was cancelled"),
            )
        raise
    finally:
        e.jobs.creating -= 1
    if reply is None:
        return job
    ids, snapshot = reply.value
    job.ids = ids
    if kind.chained:
        job.chain = ["/".join(ids.values())]
    # The job exists from now on: its first check, age and deadline count from here,
    # not from when the create started waiting for a token.
    now = e.clock.now()
    job.origin_at = now
    # One string per class, not per job (sys.intern): a job's memory is mostly its record.
    job.klass = sys.intern(class_of(kind.name, params, hint_s))
    timeout_s = e.planner.poll_of(kind).timeout_s
    if timeout_s is not None:
        job.deadline = now + timeout_s
    e.jobs.created += 1
    log.debug("batchpoll.job.created", job=job.key, kind=kind.name, **ids)
    e.observe(job, snapshot)
    hinted = e.jobs.push.register(job, now)  # an event may beat the reply
    if snapshot.terminal:
        e.spawn(conclude, job, snapshot)
    else:
        e.schedule(job, 0.0 if hinted else None, now=now)
    return job


async def _send_create(
    e: Engine, job: Record, kind: JobKind, params: Mapping[str, Any], ambiguous: str | None
) -> Reply[tuple[Ids, Snapshot]] | None:
    """The create request, retried only when it certainly had no effect (429, refused
    connection): after a 5xx, a timeout or a dropped reply the job may exist, and a retry
    could create it twice (``ambiguous``: this create's ``ambiguous_creates``, else the
    poller's). Returns None when the job ended with an error outcome."""
    attempt = 0
    body = kind.metered({}, None, params)
    if body is not None:
        job.model = str(body.get("model") or "-")
    mode = ambiguous or e.poll.ambiguous_creates
    hooks = e.hooks

    def create() -> Awaitable[Reply[tuple[Ids, Snapshot]]]:
        return kind.create(e.client, params)

    while True:
        sending = None if hooks is None else Sending(hooks, job.key, continuation=False)
        try:
            async with slot_of(e.in_doubt):
                call = create if sending is None else sending.around(create)
                reply = await e.send(job, Priority.CREATE, call, body=body)
        except RequestTooLargeError as too_large:  # no wait can make it fit
            e.finish(job, Status.ERROR, error=too_large.error_info())
            return None
        except HookRefused as refused:  # nothing was sent
            e.finish(job, Status.ERROR, error=ErrorInfo(ErrorCode.INTERNAL, str(refused)))
            return None
        except Exception as exc:
            failure = e.on_failure(exc, job)
        else:
            if sending is not None:
                sending.sent(reply.value[0])
            return reply
        attempt += 1
        verdict = after_create_failure(failure, attempt, mode)
        if sending is not None:
            sending.failed(failure, resend=verdict is Verdict.RESEND)
        if verdict is Verdict.FATAL:
            e.finish(job, Status.ERROR, error=failure.error)
            assert e.fatal is not None
            raise e.fatal from None
        if verdict is Verdict.END:
            e.finish(job, Status.ERROR, error=failure.error)
            return None
        if not e.send_again(job, failure, verdict, "job", "batchpoll.job.create_retried"):
            return None
        if e.past_deadline(job):
            e.finish(job, Status.ERROR, error=failure.error)
            return None
        if failure.kind is FailureKind.TRANSIENT:  # give the server a moment
            await e.clock.sleep(retry_delay(attempt, e.poll, e.uniform))
