"""format_go_duration matches Go's time.Duration.String() (OpenAI's reset headers)."""

from __future__ import annotations

import pytest

from batchpoll.mock import format_go_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.012, "12ms"),
        (0.0125, "12.5ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (59.999, "59.999s"),
        (60, "1m0s"),
        (360, "6m0s"),
        (252.172, "4m12.172s"),
        (3600, "1h0m0s"),
        (3723.5, "1h2m3.5s"),
        (1.5e-6, "1.5µs"),
        (2e-9, "2ns"),
        (-0.25, "-250ms"),
    ],
)
def test_examples(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


def test_non_finite_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        format_go_duration(float("inf"))
