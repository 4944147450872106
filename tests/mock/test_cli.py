"""``batchpoll mock`` option parsing (serving itself is covered in test_server.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from batchpoll.cli._main import cli


@pytest.mark.parametrize(
    "args",
    [
        ["--fault-window", "5:1:error"],
        ["--fault-window", "0:5:explode"],
        ["--rate-step", "ten:600"],
        ["--class-rpm", "create"],
        ["--fail-rate", "2"],
        ["--rpm", "0"],
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
