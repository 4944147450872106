"""``--via batch`` and its options: a bulk run through OpenAI's Batch API (docs/batch.md).

Attached to ``batchpoll run`` like ``_webhook_opts``: ``batch_options`` adds the options,
``batch_settings`` turns them into ``BatchSettings`` (None for a direct run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from ..runner import BatchSettings

__all__ = ["batch_options", "batch_settings"]

F = TypeVar("F", bound=Callable[..., Any])
_DEFAULTS = BatchSettings()


def batch_options(command: F) -> F:
    options = [
        click.option(
            "--via",
            type=click.Choice(["direct", "batch"]),
            default="direct",
            show_default=True,
            help="direct: one background job per item; batch: the items go through OpenAI's "
            "Batch API (half price, its own quota, results within 24 h; docs/batch.md).",
        ),
        click.option(
            "--batch-max-lines",
            type=click.IntRange(1, _DEFAULTS.max_lines),
            default=_DEFAULTS.max_lines,
            show_default=True,
            help="With --via batch: at most this many items per batch (also at most 200 MB).",
        ),
        click.option(
            "--resubmit-expired/--no-resubmit-expired",
            default=_DEFAULTS.resubmit_expired,
            show_default=True,
            help="With --via batch: the lines an expired or cancelled batch did not run go "
            "into one new batch (else they are reported expired / cancelled).",
        ),
        click.option(
            "--batch-expect",
            "batch_expect_s",
            type=click.FloatRange(min=0, min_open=True),
            default=_DEFAULTS.expect_s,
            show_default=True,
            help="With --via batch: typical seconds a batch takes, the prior of its learned "
            "check schedule (a few checks per batch, not one every few seconds).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def batch_settings(options: Mapping[str, Any]) -> BatchSettings | None:
    """The ``BatchSettings`` of ``--via batch`` (None: a direct run)."""
    if options.get("via", "direct") != "batch":
        return None
    return BatchSettings(
        max_lines=int(options["batch_max_lines"]),
        resubmit_expired=bool(options["resubmit_expired"]),
        expect_s=float(options["batch_expect_s"]),
    )
