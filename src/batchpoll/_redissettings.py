"""``RedisSettings``: how a ``RedisBudget`` talks to Redis (``_redisbudget.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._budget import Priority, Ticket
from ._errors import ConfigurationError
from ._window import _Releaser

__all__ = ["RedisSettings", "RedisTicket", "connect"]

_CLASS = {
    Priority.SUBMIT: 0,
    Priority.CANCEL: 0,
    Priority.CHECK: 1,
    Priority.FETCH: 1,
    Priority.CREATE: 2,
}
_MAX_PENDING_RELEASES = 10_000  # while Redis is down; a lease never released just ages out


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """How ``RedisBudget`` talks to Redis. Every process sharing a name should use the same."""

    key_prefix: str = "batchpoll"
    horizon_s: float = 0.45  # how far ahead a submit or check may be booked
    create_horizon_s: float = 0.3  # ... and a create (so others' checks wait at most this)
    # A process that holds no booking may book two submits or checks this far ahead rather
    # than be refused (under contention a refusal is a round trip that grants nothing); never
    # less than horizon_s.
    far_horizon_s: float = 0.55
    max_batch: int = 4  # leases booked per round trip at most
    late_s: float = 0.1  # a lease handed out later than this after its start is given back
    timeout_s: float = 1.0  # per script run
    retry_min_s: float = 0.05  # backoff while Redis does not answer ...
    retry_max_s: float = 2.0  # ... doubling up to this
    # Releases wait at most this for a booking run to ride on. A release matters to bookings
    # made 1 s - far_horizon_s after its reply: keep far_horizon_s + release_flush_s <= 1 s.
    release_flush_s: float = 0.45
    state_ttl_s: int = 86_400  # the shared state (rate, learned limit) outlives idleness so long

    def __post_init__(self) -> None:
        if not 0 < self.create_horizon_s <= self.horizon_s:
            raise ConfigurationError("need 0 < create_horizon_s <= horizon_s")
        if self.max_batch < 1:
            raise ConfigurationError("max_batch must be >= 1")
        if self.late_s < 0 or self.timeout_s <= 0 or self.retry_min_s <= 0:
            raise ConfigurationError("late_s >= 0, timeout_s > 0 and retry_min_s > 0")


class RedisTicket(Ticket):
    """A granted lease; ``release()`` when the reply is in."""

    __slots__ = ("lease",)

    def __init__(self, budget: _Releaser, lease: str, granted_at: float) -> None:
        super().__init__(budget, granted_at)
        self.lease = lease


def connect(url: str, rs: RedisSettings) -> Any:
    """A redis-py asyncio client for ``url``: one attempt per command (the budget retries)."""
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ConfigurationError("RedisBudget needs: pip install 'batchpoll[redis]'") from exc
    client = Redis.from_url(
        url,
        socket_timeout=rs.timeout_s,
        socket_connect_timeout=rs.timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    return client
