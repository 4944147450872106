"""``_resend``'s verdicts on a failed create, with plain values."""

from __future__ import annotations

import pytest

from batchpoll._failures import ErrorCode, Failure, FailureKind
from batchpoll._outcome import ErrorInfo
from batchpoll._resend import AMBIGUOUS_TRIES, Verdict, after_create_failure, uncertain


def failure(kind: FailureKind, *, sent_nothing: bool = False, answered: bool = False) -> Failure:
    error = ErrorInfo("server_error", "boom")
    return Failure(kind, error, sent_nothing=sent_nothing, answered=answered)


def test_certainly_unsent_is_sent_again() -> None:
    limited = failure(FailureKind.RATE_LIMITED, sent_nothing=True)
    assert after_create_failure(limited, 50, "report") is Verdict.RETRY  # 429s never run out
    refused = failure(FailureKind.TRANSIENT, sent_nothing=True)
    assert after_create_failure(refused, 2, "report") is Verdict.RETRY
    assert after_create_failure(refused, 3, "report") is Verdict.END


@pytest.mark.parametrize(
    ("mode", "answered", "expected"),
    [
        ("auto", True, Verdict.RESEND),  # a 5xx with the server's own error: likely nothing
        ("auto", False, Verdict.UNCERTAIN),  # a lost reply: anything may exist
        ("retry", False, Verdict.RESEND),
        ("report", True, Verdict.UNCERTAIN),
    ],
)
def test_maybe_sent_follows_the_policy(mode: str, answered: bool, expected: Verdict) -> None:
    maybe = failure(FailureKind.TRANSIENT, answered=answered)
    assert after_create_failure(maybe, 1, mode) is expected


def test_resends_are_bounded() -> None:
    maybe = failure(FailureKind.TRANSIENT, answered=True)
    assert after_create_failure(maybe, AMBIGUOUS_TRIES - 1, "retry") is Verdict.RESEND
    assert after_create_failure(maybe, AMBIGUOUS_TRIES, "retry") is Verdict.UNCERTAIN


def test_refusals_and_fatal_end() -> None:
    assert after_create_failure(failure(FailureKind.JOB), 1, "retry") is Verdict.END
    assert after_create_failure(failure(FailureKind.FATAL), 1, "retry") is Verdict.FATAL


def test_uncertain_names_what_may_exist() -> None:
    error = uncertain(failure(FailureKind.TRANSIENT), "continuation")
    assert error.type == ErrorCode.CREATE_UNCERTAIN
    assert "continuation may exist" in error.message
    assert error.message.startswith("server_error: boom")
