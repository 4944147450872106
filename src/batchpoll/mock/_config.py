"""Settings of the mock server: one frozen dataclass, validated once, changed by replacement.

Every field is documented in docs/mock.md (with its CLI flag). Units are in the names.
Live changes (``POST /_mock/config``) go through :func:`config_with_changes`, which parses JSON
values into the same types and re-validates, so a bad change is a 400, never a half-applied one.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from .._errors import ConfigurationError
from ._durations import DurationMix, check_mix, parse_mix

__all__ = [
    "REQUEST_CLASSES",
    "FaultKind",
    "FaultWindow",
    "HeaderSemantics",
    "MockConfig",
    "RequestClass",
    "config_to_json",
    "config_with_changes",
]

# "create" = a request that starts a job (create_and_run, runs.create, responses.create);
# "post" = every other POST; "get" = every GET. Budgets and fault windows can name them.
RequestClass = Literal["get", "post", "create"]
REQUEST_CLASSES: tuple[str, ...] = get_args(RequestClass)

FaultKind = Literal["error", "disconnect", "slow", "malformed"]

# What x-ratelimit-remaining-requests / -reset-requests mean (see _limiter.py).
HeaderSemantics = Literal["bucket", "window"]
HEADER_SEMANTICS: tuple[str, ...] = get_args(HeaderSemantics)
_FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """Inject one kind of fault with probability ``rate`` while ``start_s <= t < end_s``.

    ``t`` is seconds since the mock started (its first request, or the last reset).
    ``request_class`` limits the window to "get", "post" or "create" requests (None: all).
    """

    start_s: float
    end_s: float
    kind: FaultKind
    rate: float = 1.0
    request_class: RequestClass | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.start_s < self.end_s):
            raise ConfigurationError(f"fault window needs 0 <= start_s < end_s, got {self}")
        if self.kind not in _FAULT_KINDS:
            raise ConfigurationError(f"fault kind must be one of {_FAULT_KINDS}, got {self.kind!r}")
        _check_rate("fault window rate", self.rate)
        if self.request_class is not None and self.request_class not in REQUEST_CLASSES:
            raise ConfigurationError(f"request_class must be one of {REQUEST_CLASSES} or None")

    def active(self, elapsed_s: float, request_class: str) -> bool:
        in_time = self.start_s <= elapsed_s < self.end_s
        return in_time and self.request_class in (None, request_class)


@dataclass(frozen=True, slots=True)
class MockConfig:
    """Everything the mock simulates. All fields have defaults; see docs/mock.md."""

    # --- rate limits (sliding windows, as OpenAI enforces them: quantized to 1 s) ---
    rpm: int | None = None
    burst: int | None = None
    class_rpm: Mapping[str, int] = field(default_factory=dict)
    class_burst: Mapping[str, int] = field(default_factory=dict)
    rate_schedule: Sequence[tuple[float, int]] = ()
    header_semantics: HeaderSemantics = "bucket"  # or "window", the mock's former headers
    rpd: int | None = None  # requests per day (a bucket refilled over 24 h); None: unlimited
    quota_exhausted_after: int | None = None  # then every request: 429 insufficient_quota
    # --- token limits (per model, continuously refilled bucket; see _tokens.py) ---
    tpm: int | None = None  # tokens per minute of every model; None: unlimited
    model_tpm: Mapping[str, int] = field(default_factory=dict)  # per-model overrides
    # --- job lifecycle ---
    duration_median_s: float = 4.0
    duration_sigma: float = 0.5
    duration_mix: DurationMix = field(default_factory=dict)  # model -> parts (_durations)
    queue_delay_s: float = 0.5
    fail_rate: float = 0.03
    incomplete_rate: float = 0.0
    tool_rate: float = 0.1
    tool_repeat_rate: float = 0.0
    max_tool_rounds: int = 3
    tool_name: str = "lookup"
    parallel_calls_rate: float = 0.25  # a response's round asks two calls (Responses only)
    action_expiry_s: float = 20.0
    run_expiry_s: float = 600.0
    cancel_delay_s: float = 0.5
    poll_after_ms: int | None = None
    model: str = "gpt-4o-mini"
    # --- batches, fine-tuning jobs, vector-store file batches (_batches, _long_jobs) ---
    batch_validating_s: float = 2.0
    batch_in_progress_s: float = 30.0  # the lines run one after another over this long
    batch_finalizing_s: float = 2.0
    batch_window_s: float = 86_400.0  # completion_window "24h": what expires_at says
    batch_line_fail_rate: float = 0.0  # a line's request gets a 500 (in the error file)
    batch_expire_rate: float = 0.0  # a batch expires, keeping the lines it finished
    batch_expire_nth: Sequence[int] = ()  # these batches (1 = the first created) expire
    batch_expire_share: float = 0.5  # the share of its lines an expiring batch finishes
    # Enqueued tokens per model (lines of batches not ended, about 4 characters a token);
    # a batch that would go over fails: token_limit_exceeded. None: unlimited.
    batch_queue_tokens: int | None = None
    fine_tune_duration_s: float = 60.0
    fine_tune_fail_rate: float = 0.0
    file_batch_duration_s: float = 5.0
    # --- transport faults ---
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    disconnect_rate: float = 0.0
    disconnect_after_processing: bool = True
    slow_rate: float = 0.0
    slow_ms: float = 30_000.0
    malformed_rate: float = 0.0
    fault_windows: Sequence[FaultWindow] = ()
    # --- webhooks for background responses (see docs/webhooks.md) ---
    webhook_url: str | None = None  # None: send none
    webhook_secret: str | None = None  # "whsec_" + base64 key; never echoed
    webhook_delay_s: float = 0.0  # after the response's terminal time
    webhook_delay_jitter_s: float = 0.0  # plus uniform [0, this)
    webhook_loss: float = 0.0  # probability that an event is never sent
    webhook_duplicate: float = 0.0  # probability that it is sent twice (same webhook-id)
    webhook_reorder: float = 0.0  # probability that it is held back (later events overtake it)
    webhook_reorder_delay_s: float = 5.0  # scale of that hold-back and of a duplicate's delay
    webhook_timeout_s: float = 10.0  # an attempt unanswered this long failed
    webhook_retry_scale: float = 1.0  # multiplies the retry schedule (0.001: 72 h in 259 s)
    webhook_retry_for_s: float = 72 * 3600.0  # retried this long after attempt 1; 0: never
    # --- identity and bookkeeping ---
    api_key: str | None = None
    seed: int = 1
    deterministic_ids: bool = False  # True: ids from the seed alone (see _ids), at start/reset
    metadata_key: str = "batchpoll_item"

    def __post_init__(self) -> None:
        # Normalise containers so that equal configs compare equal and JSON round-trips.
        object.__setattr__(self, "class_rpm", dict(self.class_rpm))
        object.__setattr__(self, "class_burst", dict(self.class_burst))
        object.__setattr__(self, "model_tpm", dict(self.model_tpm))
        object.__setattr__(self, "duration_mix", parse_mix(self.duration_mix))
        schedule = tuple(sorted((float(t), int(n)) for t, n in self.rate_schedule))
        object.__setattr__(self, "rate_schedule", schedule)
        object.__setattr__(self, "fault_windows", tuple(self.fault_windows))
        object.__setattr__(self, "batch_expire_nth", tuple(self.batch_expire_nth))
        self._validate()

    def _validate(self) -> None:
        _check_positive_int("rpm", self.rpm, optional=True)
        _check_positive_int("burst", self.burst, optional=True)
        _check_positive_int("tpm", self.tpm, optional=True)
        _check_positive_int("rpd", self.rpd, optional=True)
        quota = self.quota_exhausted_after
        if quota is not None and (
            isinstance(quota, bool) or not isinstance(quota, int) or quota < 0
        ):
            raise ConfigurationError(
                f"quota_exhausted_after must be an integer >= 0, got {quota!r}"
            )
        if self.header_semantics not in HEADER_SEMANTICS:
            raise ConfigurationError(
                f"header_semantics must be one of {HEADER_SEMANTICS}, got {self.header_semantics!r}"
            )
        for model, value in self.model_tpm.items():
            if not isinstance(model, str) or not model:
                raise ConfigurationError(f"model_tpm keys are model names, got {model!r}")
            _check_positive_int(f"model_tpm[{model!r}]", value)
        for name, table in (("class_rpm", self.class_rpm), ("class_burst", self.class_burst)):
            for klass, value in table.items():
                if klass not in REQUEST_CLASSES:
                    raise ConfigurationError(f"{name} keys must be in {REQUEST_CLASSES}: {klass!r}")
                _check_positive_int(f"{name}[{klass!r}]", value)
        for t_s, rpm in self.rate_schedule:
            if t_s < 0:
                raise ConfigurationError(f"rate_schedule times must be >= 0, got {t_s}")
            _check_positive_int("rate_schedule rpm", rpm)
        _check_positive("duration_median_s", self.duration_median_s)
        _check_non_negative("duration_sigma", self.duration_sigma)
        check_mix(self.duration_mix)
        _check_non_negative("queue_delay_s", self.queue_delay_s)
        rates = ("fail_rate", "incomplete_rate", "tool_rate", "tool_repeat_rate")
        for name in (*rates, "parallel_calls_rate"):
            _check_rate(name, getattr(self, name))
        if self.fail_rate + self.incomplete_rate > 1.0:
            raise ConfigurationError("fail_rate + incomplete_rate must be <= 1")
        _check_positive_int("max_tool_rounds", self.max_tool_rounds)
        if not self.tool_name:
            raise ConfigurationError("tool_name must not be empty")
        _check_positive("action_expiry_s", self.action_expiry_s)
        _check_positive("run_expiry_s", self.run_expiry_s)
        _check_non_negative("cancel_delay_s", self.cancel_delay_s)
        _check_positive_int("poll_after_ms", self.poll_after_ms, optional=True)
        for name in ("batch_validating_s", "batch_finalizing_s"):
            _check_non_negative(name, getattr(self, name))
        for name in (
            "batch_in_progress_s",
            "batch_window_s",
            "fine_tune_duration_s",
            "file_batch_duration_s",
        ):
            _check_positive(name, getattr(self, name))
        for name in ("batch_line_fail_rate", "batch_expire_rate", "fine_tune_fail_rate"):
            _check_rate(name, getattr(self, name))
        if not 0 < self.batch_expire_share <= 1:
            raise ConfigurationError("batch_expire_share must be within (0, 1]")
        _check_positive_int("batch_queue_tokens", self.batch_queue_tokens, optional=True)
        for nth in self.batch_expire_nth:
            _check_positive_int("batch_expire_nth entries", nth)
        _check_non_negative("latency_ms", self.latency_ms)
        _check_non_negative("latency_jitter_ms", self.latency_jitter_ms)
        _check_non_negative("slow_ms", self.slow_ms)
        for name in ("error_rate", "disconnect_rate", "slow_rate", "malformed_rate"):
            _check_rate(name, getattr(self, name))
        for window in self.fault_windows:
            if not isinstance(window, FaultWindow):
                raise ConfigurationError(f"fault_windows holds FaultWindow values, got {window!r}")
        for name in (
            "webhook_delay_s",
            "webhook_delay_jitter_s",
            "webhook_reorder_delay_s",
            "webhook_retry_for_s",
        ):
            _check_non_negative(name, getattr(self, name))
        _check_positive("webhook_timeout_s", self.webhook_timeout_s)
        _check_positive("webhook_retry_scale", self.webhook_retry_scale)
        for name in ("webhook_loss", "webhook_duplicate", "webhook_reorder"):
            _check_rate(name, getattr(self, name))
        if self.webhook_url is not None and not self.webhook_secret:
            raise ConfigurationError("webhook_url needs webhook_secret (whsec_...)")
        if self.webhook_secret is not None and self.webhook_secret.startswith("whsec_"):
            try:
                base64.b64decode(self.webhook_secret[6:], validate=True)
            except ValueError:
                raise ConfigurationError(
                    "webhook_secret: whsec_ must be followed by base64"
                ) from None
        if self.api_key == "":
            raise ConfigurationError("api_key must be None (accept any key) or non-empty")
        if not self.metadata_key:
            raise ConfigurationError("metadata_key must not be empty")

    def effective_burst(self, rpm: int) -> int:
        """The 1-second cap for a minute budget of ``rpm``: explicit, else ceil(rpm / 60)."""
        return self.burst if self.burst is not None else max(1, math.ceil(rpm / 60))

    def tpm_for(self, model: str) -> int | None:
        """The token limit of ``model``: its override, else ``tpm`` (None: unlimited)."""
        return self.model_tpm.get(model, self.tpm)


def _check_rate(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0):
        raise ConfigurationError(f"{name} must be within [0, 1], got {value}")


def _check_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigurationError(f"{name} must be a positive number, got {value}")


def _check_non_negative(name: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ConfigurationError(f"{name} must be >= 0, got {value}")


def _check_positive_int(name: str, value: int | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")


# --- JSON <-> config -------------------------------------------------------------------------

_INT_OR_NONE = {
    "rpm",
    "burst",
    "poll_after_ms",
    "tpm",
    "rpd",
    "quota_exhausted_after",
    "batch_queue_tokens",
}
_INT = {"max_tool_rounds", "seed"}
_STR = {"tool_name", "metadata_key", "model", "header_semantics"}
_BOOL = {"disconnect_after_processing", "deterministic_ids"}


def config_with_changes(config: MockConfig, changes: Mapping[str, Any]) -> MockConfig:
    """A copy of ``config`` with JSON-shaped ``changes`` applied (ConfigurationError if invalid)."""
    names = {f.name for f in dataclasses.fields(MockConfig)}
    parsed: dict[str, Any] = {}
    for name, raw in changes.items():
        if name not in names:
            raise ConfigurationError(f"unknown setting {name!r}")
        parsed[name] = _parse_value(name, raw)
    return dataclasses.replace(config, **parsed)


def _parse_value(name: str, raw: Any) -> Any:
    if name in _INT_OR_NONE and raw is None:
        return None
    if name in _INT_OR_NONE or name in _INT:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigurationError(f"{name} must be an integer, got {raw!r}")
        return raw
    if name in _STR:
        if not isinstance(raw, str):
            raise ConfigurationError(f"{name} must be a string")
        return raw
    if name in _BOOL:
        if not isinstance(raw, bool):
            raise ConfigurationError(f"{name} must be true or false")
        return raw
    if name in ("api_key", "webhook_url", "webhook_secret"):
        if raw is not None and not isinstance(raw, str):
            raise ConfigurationError(f"{name} must be a string or null")
        return raw
    if name in ("class_rpm", "class_burst"):
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{name} must be an object of request class -> integer")
        return dict(raw)
    if name == "model_tpm":
        if not isinstance(raw, Mapping):
            raise ConfigurationError("model_tpm must be an object of model -> integer")
        return dict(raw)
    if name == "duration_mix":
        return parse_mix(raw)
    if name == "rate_schedule":
        return _parse_schedule(raw)
    if name == "batch_expire_nth":
        if not isinstance(raw, list):
            raise ConfigurationError("batch_expire_nth must be a list of integers")
        return tuple(raw)
    if name == "fault_windows":
        return _parse_windows(raw)
    # Every remaining field is a float.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigurationError(f"{name} must be a number, got {raw!r}")
    return float(raw)


def _parse_schedule(raw: Any) -> tuple[tuple[float, int], ...]:
    if not isinstance(raw, list):
        raise ConfigurationError("rate_schedule must be a list of [t_s, rpm] pairs")
    steps: list[tuple[float, int]] = []
    for item in raw:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            raise ConfigurationError(f"rate_schedule entries are [t_s, rpm], got {item!r}")
        t_s, rpm = item
        if not isinstance(t_s, int | float) or isinstance(rpm, bool) or not isinstance(rpm, int):
            raise ConfigurationError(f"rate_schedule entries are [number, integer], got {item!r}")
        steps.append((float(t_s), rpm))
    return tuple(steps)


def _parse_windows(raw: Any) -> tuple[FaultWindow, ...]:
    if not isinstance(raw, list):
        raise ConfigurationError("fault_windows must be a list of objects")
    windows: list[FaultWindow] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ConfigurationError(f"a fault window is an object, got {item!r}")
        try:
            windows.append(FaultWindow(**cast(Mapping[str, Any], item)))
        except TypeError as exc:
            raise ConfigurationError(f"bad fault window {item!r}: {exc}") from None
    return tuple(windows)


def config_to_json(config: MockConfig) -> dict[str, Any]:
    """The config as JSON, with the API key hidden (the mock never echoes a key)."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(MockConfig):
        value = getattr(config, f.name)
        if f.name in ("api_key", "webhook_secret"):
            value = None if value is None else "***"
        elif f.name == "rate_schedule":
            value = [list(step) for step in value]
        elif f.name == "batch_expire_nth":
            value = list(value)
        elif f.name == "fault_windows":
            value = [dataclasses.asdict(w) for w in value]
        elif isinstance(value, Mapping):
            value = dict(value)
        data[f.name] = value
    return data
