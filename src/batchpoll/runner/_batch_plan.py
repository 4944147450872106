"""Before a ``--via batch`` run sends anything: what the journal already settled, the lines
refused for a batch, and the parts (those of earlier runs not collected, then new ones for
the items in none).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import logger
from ._batch_items import BatchLine, batch_lines
from ._batch_parts import Part, PartsJournal, PartState, split
from ._items import BadLine
from ._journal import Journal
from ._plan import Action, Plan
from ._settings import RunSettings
from ._summary import Tally, bad_line_record

__all__ = ["plan_parts", "settle_known"]

log = logger  # silent until the application configures structlog


def settle_known(
    plan: Plan, journal: Journal, tally: Tally, lines: dict[str, BatchLine], s: RunSettings
) -> Iterator[Mapping[str, Any]]:
    """The records to write as they are (journaled results, bad and refused lines, each
    journaled first); ``lines`` gets the batch line of every item still to run."""
    for key, decision in plan.decisions.items():
        entry = decision.entry
        if decision.action is Action.SETTLED:
            assert entry is not None
            assert entry.outcome is not None
            tally.resumed += 1
            yield entry.outcome
        elif decision.action is Action.BAD:
            item = decision.item
            assert isinstance(item, BadLine)
            record = bad_line_record(key, item.line_no, item.error)
            if entry is None or entry.outcome != record:
                journal.done(key, item.line_no, "-", record)
            yield record
    for line in batch_lines(s.input_path, s.defaults):
        key = line.key if isinstance(line, BadLine) else line.item.key
        if plan.action(key) is not Action.CREATE:
            continue
        if isinstance(line, BadLine):  # refused for a batch: it never reaches the server
            record = bad_line_record(key, line.line_no, line.error)
            journal.done(key, line.line_no, "-", record)
            yield record
        else:
            lines[key] = line


def plan_parts(
    parts: PartsJournal, lines: Mapping[str, BatchLine], max_lines: int, max_bytes: int
) -> dict[tuple[int, int], Part]:
    """The parts to run: earlier runs' parts not collected (their items as planned), then
    new parts, journaled, for the items in none of them."""
    known = parts.parts()
    todo: dict[tuple[int, int], Part] = {}
    assigned: set[str] = set()
    for part in known:
        if part.state is not PartState.COLLECTED:
            todo[(part.part, part.attempt)] = part
            assigned.update(part.keys)
    fresh = [line for key, line in lines.items() if key not in assigned]
    groups = split(fresh, max_lines, max_bytes)
    first = max((p.part for p in known), default=0) + 1
    made = parts.plan([(g[0].url, [ln.item.key for ln in g]) for g in groups], first)
    for part in made:
        todo[(part.part, part.attempt)] = part
    if todo:
        log.info("batchpoll.batch.planned", parts=len(todo), new=len(made))
    return todo
