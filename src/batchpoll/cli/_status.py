"""``batchpoll status OUTPUT.jsonl``: what a run's journal says, without running anything."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from ..runner import Journal, JournalError, State, batch_keys_in_flight
from ._execute import fail

__all__ = ["status", "status_counts"]

_IN_FLIGHT = {
    State.CREATED: "in flight",
    State.THREAD: "in flight",
    State.SENDING: "sending",
    State.CONTINUING: "sending",
}


def status_counts(journal_path: Path) -> tuple[Counter[str], dict[str, str]]:
    """Items by status (a done item's last outcome; 'in flight', 'sending' otherwise) and the
    journal's meta values. Read-only: safe while a run works on it."""
    journal = Journal.read(journal_path)
    try:
        counts: Counter[str] = Counter()
        entries = journal.entries()
        for entry in entries.values():
            counts[entry.status or _IN_FLIGHT[entry.state]] += 1
        in_batches = len(batch_keys_in_flight(journal.db) - entries.keys())  # --via batch
        if in_batches:
            counts["in a batch"] = in_batches
        return counts, journal.meta()
    finally:
        journal.close()


@click.command("status")
@click.argument("output_path", metavar="OUTPUT.jsonl", type=click.Path(path_type=Path))
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(path_type=Path),
    help="The run's journal (default: OUTPUT.journal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
def status(output_path: Path, journal_path: Path | None, as_json: bool) -> None:
    """Print how many items of a run (its journal) are in each status, without running
    anything; safe while the run works.

    \b
    'in flight': created and being tracked; 'sending': the create may have left when the
    run stopped (reported 'uncertain' when it resumes, unless --retry uncertain).
    'in a batch': in a batch of a --via batch run, not ended yet. 'not started': input lines
    the journal has no record of yet.

    Example: batchpoll status results.jsonl
    """
    path = journal_path or output_path.with_name(output_path.name + ".journal")
    try:
        counts, meta = status_counts(path)
    except JournalError as exc:
        fail(str(exc), 4 if path.exists() else 2)
    total = int(meta.get("input_items", "0") or 0)
    not_started = max(0, total - sum(counts.values()))
    if not_started:
        counts["not started"] = not_started
    if as_json:
        click.echo(json.dumps({"items": max(total, sum(counts.values())), **counts}))
        return
    click.echo(f"{path}: {max(total, sum(counts.values()))} items (input {meta.get('input', '?')})")
    width = max((len(name) for name in counts), default=0)
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"  {name:<{width}}  {count}")
