"""Before anything is sent: the run's files checked, the journal opened against the server
and key, and the plan made from the journal and the input (``_plan.py``; docs/journal.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openai import AsyncOpenAI

from .. import logger
from ._batch_parts import open_parts
from ._binding import Binding
from ._errors import InputError, InputUnreadableError
from ._items import InputScan, Item, Kind, iter_items
from ._journal import Journal
from ._plan import Decision, Plan, plan_run
from ._settings import RunSettings

__all__ = ["as_tracked", "make_plan", "open_journal"]

log = logger  # silent until the application configures structlog

_SHOWN = 5  # changed lines named one by one; the rest are counted


def open_journal(s: RunSettings, client: AsyncOpenAI, scan: InputScan) -> Journal:
    """The journal of this output, bound to the client's server and key. Raises
    ``InputUnreadableError`` for a missing directory, ``InputError`` for an output without
    its journal, ``JournalError`` (``JournalMismatchError``) from the journal."""
    for path, what in ((s.output_path, "output"), (s.journal, "journal")):
        if not path.parent.is_dir():
            raise InputUnreadableError(
                f"the {what} directory {str(path.parent)!r} does not exist (for {what} "
                f"{str(path)!r}): create it, or choose another path"
            )
    if not s.journal.exists() and s.output_path.exists() and s.output_path.stat().st_size:
        raise InputError(
            f"output {str(s.output_path)!r} exists but its journal {str(s.journal)!r} does "
            "not: remove the output or choose another -o"
        )
    base_url = s.base_url or str(client.base_url)
    journal = Journal.open(s.journal, Binding.of(base_url, client.api_key, scan.sha256))
    if s.batch is None and open_parts(journal.db):
        journal.close()
        raise InputError(
            f"journal {str(s.journal)!r} has batches in flight (a --via batch run): rerun it "
            "with --via batch until it is done, or choose another -o"
        )
    return journal


def make_plan(
    s: RunSettings, journal: Journal, scan: InputScan, notice: Callable[[str], None]
) -> Plan:
    """Read the journal against the input; name the lines changed since they ran."""
    journal.set_info(input=str(s.input_path), input_items=str(scan.items))
    if journal.legacy:  # format 1: it was written for this very input, so its lines ran
        entries = journal.entries()
        journal.adopt_digests(
            {
                item.key: item.digest if isinstance(item, Item) else "format-1"
                for item in iter_items(s.input_path, s.defaults, s.shard)
                if item.key in entries and not _never_sent(entries[item.key].outcome)
            }
        )
    plan = plan_run(
        iter_items(s.input_path, s.defaults, s.shard),
        journal.entries(),
        retry=s.retry,
        redo_changed=s.redo_changed,
    )
    journal.drop(plan.forgotten)
    for line_no, key, again in plan.changed[:_SHOWN]:
        what = "running it again" if again else "kept as it ran (--redo-changed runs it again)"
        notice(f"line {line_no} (id {key!r}) changed since it ran: {what}")
    if len(plan.changed) > _SHOWN:
        notice(f"... and {len(plan.changed) - _SHOWN} more changed lines")
    for line_no, key, again in plan.changed:
        log.warning("batchpoll.run.line_changed", line=line_no, item=key, rerun=again)
    if plan.retried:
        log.info("batchpoll.run.retrying", items=plan.retried, statuses=sorted(s.retry))
    return plan


def _never_sent(outcome: Mapping[str, Any] | None) -> bool:
    error = None if outcome is None else outcome.get("error")
    return isinstance(error, Mapping) and error.get("type") == "bad_input"


def as_tracked(decision: Decision) -> Item:
    """The item to track for a job the journal knows: the line's own, with its params for a
    chain's continuations, unless the line changed (or changed kind) since it was sent; then
    a bare tracking item of the journal's kind (continued with the server's model)."""
    item, entry = decision.item, decision.entry
    assert entry is not None
    if isinstance(item, Item) and item.digest == entry.digest and item.kind == entry.kind:
        return item
    kind: Kind = "assistants" if entry.kind == "assistants" else "responses"
    return Item(item.key, item.line_no, kind, "track", ids=entry.ids, digest=entry.digest or "")
