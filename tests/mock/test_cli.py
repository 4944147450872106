"""``batchpoll mock`` option parsing (serving itself is covered in test_server.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from batchpoll.cli._main import cli
from batchpoll.mock import MockConfig


@pytest.mark.parametrize(
    "args",
    [
        ["--fault-window", "5:1:error"],
        ["--fault-window", "0:5:explode"],
        ["--rate-step", "ten:600"],
        ["--class-rpm", "create"],
        ["--fail-rate", "2"],
        ["--rpm", "0"],
        ["--tpm", "0"],
        ["--model-tpm", "gpt-4o"],
        ["--parallel-calls-rate", "1.5"],
        ["--header-semantics", "sliding"],
        ["--rpd", "0"],
        ["--quota-exhausted-after", "-1"],
        ["--webhook-retry-scale", "0"],
        ["--webhook-timeout", "0"],
    ],
)
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["mock", *args])
    assert result.exit_code == 2, result.output


def test_help_lists_every_fault_option() -> None:
    result = CliRunner().invoke(cli, ["mock", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--error-rate",
        "--disconnect-rate",
        "--slow-ms",
        "--malformed-rate",
        "--fault-window",
    ):
        assert flag in result.output


def test_token_and_chain_options_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[MockConfig] = []

    def fake_serve(config: MockConfig, *args: object, **kwargs: object) -> None:
        seen.append(config)

    monkeypatch.setattr("batchpoll.mock._server.serve_forever", fake_serve)
    args = ["mock", "--tpm", "30000", "--model-tpm", "gpt-4o=90000", "--parallel-calls-rate", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert (config.tpm, dict(config.model_tpm)) == (30000, {"gpt-4o": 90000})
    assert config.parallel_calls_rate == 0.0
    assert config.tpm_for("gpt-4o") == 90000
    assert config.tpm_for("gpt-4o-mini") == 30000
    defaults = CliRunner().invoke(cli, ["mock", "--help"]).output
    assert "--tpm" in defaults
    assert "--parallel-calls-rate" in defaults


def test_fidelity_options_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[MockConfig] = []

    def fake_serve(config: MockConfig, *args: object, **kwargs: object) -> None:
        seen.append(config)

    monkeypatch.setattr("batchpoll.mock._server.serve_forever", fake_serve)
    result = CliRunner().invoke(
        cli,
        [
            "mock", "--header-semantics", "window", "--rpd", "200",
            "--quota-exhausted-after", "50", "--deterministic-ids",
            "--webhook-retry-scale", "0.001", "--webhook-timeout", "2", "--webhook-retry-for", "60",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert (config.header_semantics, config.rpd, config.quota_exhausted_after) == (
        "window",
        200,
        50,
    )
    assert config.deterministic_ids
    assert (config.webhook_retry_scale, config.webhook_timeout_s) == (0.001, 2.0)
    assert config.webhook_retry_for_s == 60.0
    defaults = MockConfig()
    assert (defaults.header_semantics, defaults.deterministic_ids) == ("bucket", False)
