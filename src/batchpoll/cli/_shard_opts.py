"""``--budget``, ``--budget-name`` and ``--shard``: one quota shared with other processes and
hosts, and one input split among several runs (docs/scale-out.md).

Attached to ``batchpoll run`` like ``_batch_opts``: ``shard_options`` adds the options,
``shard_output`` names a shard's output (``OUT.shard-K-of-N.jsonl``, its journal next to it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["parse_shard", "shard_options", "shard_output"]

F = TypeVar("F", bound=Callable[..., Any])
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(_: Any, __: Any, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    m = _SHARD.match(value)
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise click.BadParameter(f"{value!r}: give K/N with 1 <= K <= N, e.g. 2/3")
    return int(m.group(1)), int(m.group(2))


def _budget_url(_: Any, __: Any, value: str | None) -> str | None:
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter(f"{value!r}: a Redis URL, e.g. redis://HOST:6379/0")
    return value


def shard_options(command: F) -> F:
    options = [
        click.option(
            "--budget",
            "budget_url",
            metavar="redis://HOST:6379/0",
            callback=_budget_url,
            help="Share --rpm with every process that uses the same Redis and --budget-name "
            "(other runs, shards, services): the limit holds for all of them together.",
        ),
        click.option(
            "--budget-name",
            metavar="NAME",
            default="batchpoll",
            show_default=True,
            help="With --budget: the name of the shared budget (one per rate limit).",
        ),
        click.option(
            "--shard",
            metavar="K/N",
            callback=parse_shard,
            help="Run only the items whose id falls in shard K of N (a stable hash); output "
            "OUT.shard-K-of-N.jsonl and its journal; `batchpoll merge` joins the shards. "
            "Needs --budget.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def shard_output(output: Path, shard: tuple[int, int]) -> Path:
    """``results.jsonl`` -> ``results.shard-2-of-3.jsonl``."""
    k, n = shard
    return output.with_name(f"{output.stem}.shard-{k}-of-{n}{output.suffix}")
