"""Entry point of the ``batchpoll`` command: a click group; each command lives in its own module.

Every error is one line in batchpoll's style, click's usage errors included:
``batchpoll: error: ...`` (exit 2 for usage), and a bare ``batchpoll`` prints the help.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ._demo import demo
from ._merge import merge
from ._mock import mock
from ._run import run
from ._status import status


class _Group(click.Group):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            raise SystemExit(exc.exit_code) from None
        except click.exceptions.Abort:
            click.echo("batchpoll: aborted", err=True)
            raise SystemExit(1) from None
        except click.ClickException as exc:
            raise SystemExit(_report(exc)) from None


def _report(exc: click.ClickException) -> int:
    message = exc.format_message()
    message = message[:1].lower() + message[1:]
    message = " ".join(message.rstrip(".").split())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        path = exc.ctx.command_path
        message += f" (see '{path} --help')"
    click.echo(f"batchpoll: error: {message}", err=True)
    return exc.exit_code


@click.group(
    "batchpoll",
    cls=_Group,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="batchpoll")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Track asynchronous OpenAI jobs to completion under one shared rate budget.

    Start with `batchpoll demo` (no account needed), then `batchpoll run --help`.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


cli.add_command(mock)
cli.add_command(run)
cli.add_command(demo)
cli.add_command(status)
cli.add_command(merge)


def main() -> None:
    cli()
