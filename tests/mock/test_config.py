"""MockConfig validation and JSON changes (the /_mock/config and /_mock/reset bodies)."""

from __future__ import annotations

from typing import Any

import pytest

from batchpoll import ConfigurationError
from batchpoll.mock import FaultWindow, MockConfig
from batchpoll.mock._config import config_to_json, config_with_changes


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rpm": 0},
        {"burst": -1},
        {"fail_rate": 1.5},
        {"fail_rate": 0.6, "incomplete_rate": 0.6},
        {"class_rpm": {"delete": 10}},
        {"duration_median_s": 0},
        {"rate_schedule": [(-1, 10)]},
        {"api_key": ""},
        {"max_tool_rounds": 0},
        {"tpm": 0},
        {"model_tpm": {"gpt-4o": 0}},
        {"model_tpm": {"": 10}},
        {"parallel_calls_rate": 1.5},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        MockConfig(**kwargs)


def test_fault_window_validation() -> None:
    with pytest.raises(ConfigurationError):
        FaultWindow(5, 5, "error")
    with pytest.raises(ConfigurationError):
        FaultWindow(0, 5, "explode")  # type: ignore[arg-type]
    window = FaultWindow(1, 2, "slow", 0.5, "create")
    assert window.active(1.0, "create")
    assert not window.active(2.0, "create")
    assert not window.active(1.5, "get")


def test_default_burst_is_rpm_over_60_rounded_up() -> None:
    assert MockConfig().effective_burst(1200) == 20
    assert MockConfig().effective_burst(61) == 2
    assert MockConfig(burst=7).effective_burst(1200) == 7


def test_json_changes_round_trip() -> None:
    changed = config_with_changes(
        MockConfig(),
        {
            "rpm": 600,
            "fail_rate": 0,
            "rate_schedule": [[10, 300]],
            "fault_windows": [{"start_s": 0, "end_s": 5, "kind": "error", "rate": 0.5}],
            "class_rpm": {"create": 100},
            "tpm": 30000,
            "model_tpm": {"gpt-4o": 90000},
            "parallel_calls_rate": 1,
        },
    )
    assert (changed.tpm, changed.tpm_for("gpt-4o"), changed.parallel_calls_rate) == (
        30000,
        90000,
        1.0,
    )
    assert changed.rpm == 600
    assert changed.fail_rate == 0.0
    assert changed.rate_schedule == ((10.0, 300),)
    assert changed.fault_windows == (FaultWindow(0.0, 5.0, "error", 0.5),)
    assert config_with_changes(changed, config_to_json(changed) | {"api_key": None}) == changed


@pytest.mark.parametrize(
    "changes",
    [
        {"nope": 1},
        {"rpm": "fast"},
        {"rpm": True},
        {"fault_windows": [{"start_s": 0}]},
        {"tpm": 1.5},
        {"model_tpm": [1]},
    ],
)
def test_bad_json_changes(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        config_with_changes(MockConfig(), changes)


def test_json_view_hides_the_key() -> None:
    assert config_to_json(MockConfig(api_key="sk-secret"))["api_key"] == "***"
