"""The exception tree. Outcomes of jobs are values (see ``_outcome``); exceptions are for
misuse of the library and for infrastructure that cannot go on (a rejected API key)."""

from __future__ import annotations

__all__ = [
    "AccountRefusedError",
    "AuthenticationFailedError",
    "BatchpollError",
    "ConfigurationError",
    "PollerClosedError",
    "QuotaExhaustedError",
]


class BatchpollError(Exception):
    """Root of every exception batchpoll raises on purpose."""


class ConfigurationError(BatchpollError, ValueError):
    """A setting or an argument is invalid (misuse: fix the call)."""


class PollerClosedError(BatchpollError, RuntimeError):
    """A job was submitted to a poller that is not running (closed or not yet entered)."""


class AccountRefusedError(BatchpollError):
    """The API refuses every request of this account: the poller stopped (the key, the quota)."""


class AuthenticationFailedError(AccountRefusedError):
    """The API rejected the key (HTTP 401): nothing can succeed, the poller stopped."""


class QuotaExhaustedError(AccountRefusedError):
    """The account is out of quota (HTTP 429 ``insufficient_quota``): no request can succeed
    until billing changes, so the poller stopped rather than retry."""
