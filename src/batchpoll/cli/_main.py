"""Entry point of the ``batchpoll`` command: a click group; each command lives in its own module."""

from __future__ import annotations

import click

from .._version import __version__
from ._demo import demo
from ._mock import mock
from ._run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batchpoll")
def cli() -> None:
    """Track asynchronous OpenAI jobs to completion under one shared rate budget."""


cli.add_command(mock)
cli.add_command(run)
cli.add_command(demo)


def main() -> None:
    cli()
