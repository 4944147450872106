"""What becomes of a create that failed: pure rules over a ``Failure``, tested with plain values.

A create is the one request that must never take effect twice. So it is sent again at once
only when it certainly had no effect (a 429, a refused connection: ``sent_nothing``). After a
failure that may have reached the server (a 5xx, a timeout, a dropped reply) the job may
exist: it is sent again only as ``PollSettings.ambiguous_creates`` says ("auto": when the
server answered with its own error, which most likely made nothing; "retry": always;
"report": never), at most ``AMBIGUOUS_TRIES`` attempts in all, and a job created that way says
so in its outcome. Otherwise it ends ``create_uncertain``: a possible duplicate is never
silent. A continuation (the create of a chain's next response) follows the same rules.
"""

from __future__ import annotations

from enum import Enum

from ._failures import ErrorCode, Failure, FailureKind
from ._outcome import ErrorInfo

__all__ = ["AMBIGUOUS_TRIES", "Verdict", "after_create_failure", "uncertain"]

# Attempts in all for a create whose failures left it ambiguous (a server failing 20 % of
# requests fails four in a row for 0.16 % of the jobs).
AMBIGUOUS_TRIES = 4
# Attempts in all for a create refused by a transient failure that certainly sent nothing.
_UNSENT_TRANSIENT_TRIES = 3


class Verdict(Enum):
    FATAL = "fatal"  # a rejected key or no quota: nothing can succeed
    RETRY = "retry"  # certainly had no effect: send it again
    RESEND = "resend"  # may have had an effect, and the policy sends it again (flagged)
    UNCERTAIN = "uncertain"  # may have had an effect: the job ends create_uncertain
    END = "end"  # the job ends with the failure's error


def after_create_failure(failure: Failure, attempts: int, mode: str) -> Verdict:
    """The verdict after ``attempts`` sends in all; ``mode``: ``ambiguous_creates``."""
    if failure.kind is FailureKind.FATAL:
        return Verdict.FATAL
    if failure.kind is FailureKind.TRANSIENT and not failure.sent_nothing:
        resend = mode == "retry" or (mode == "auto" and failure.answered)
        return Verdict.RESEND if resend and attempts < AMBIGUOUS_TRIES else Verdict.UNCERTAIN
    if failure.sent_nothing and (
        failure.kind is FailureKind.RATE_LIMITED
        or (failure.kind is FailureKind.TRANSIENT and attempts < _UNSENT_TRANSIENT_TRIES)
    ):
        return Verdict.RETRY
    return Verdict.END


def uncertain(failure: Failure, what: str) -> ErrorInfo:
    """The error of a job whose create (``what``: "job", "continuation") may exist."""
    message = (
        f"{failure.error.type}: {failure.error.message} (the {what} may exist on the "
        "server; not sent again, so that it is never created twice)"
    )
    return ErrorInfo(ErrorCode.CREATE_UNCERTAIN, message)
