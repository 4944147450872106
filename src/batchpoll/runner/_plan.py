"""What a run does with each item, given the journal: the rule of docs/journal.md.

The journal binds only what must not change: each item that reached the server binds its id
and the content of its line (``Entry.digest``). Everything else may change between runs and
applies to the items not yet sent: the options (``--model``, ``--tools``, ``--rpm``, ...) and
the lines that never reached the server (bad lines, creates refused with a 4xx, lines never
started), which every run evaluates afresh.

- A line that changed since it ran is named and kept as it ran (its outcome, or its job in
  flight), unless ``redo_changed``: then it runs again as it is now.
- ``retry``: items whose last outcome has one of these statuses run again; their new outcome
  replaces the old line of the output.
- An id that ran and is no longer in the input is refused (the output would hold a line
  for no input line); one that never ran is forgotten.

``plan_run`` reads the input and the journal once, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from ._errors import InputError
from ._items import BadLine, Item
from ._journal import Entry, State
from ._summary import UNCERTAIN

__all__ = ["RETRYABLE", "Action", "Decision", "Plan", "plan_run"]

#: The statuses ``--retry`` accepts: every outcome but ``completed``.
RETRYABLE = frozenset(
    {"failed", "error", UNCERTAIN, "timed_out", "expired", "cancelled", "incomplete"}
)


class Action(Enum):
    SETTLED = "settled"  # the journal's outcome stands
    TRACK = "track"  # a job in flight: track it by its ids
    THREAD = "thread"  # safe mode: find the run on its thread, or create it there
    UNCERTAIN = "uncertain"  # its create may have reached the server: never sent again
    CREATE = "create"  # run it now (new, never sent, retried, or changed and redone)
    BAD = "bad"  # a bad line: its bad_input outcome


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    item: Item | BadLine
    entry: Entry | None = None


@dataclass(slots=True)
class Plan:
    decisions: dict[str, Decision] = field(default_factory=dict)  # items the journal knows
    changed: list[tuple[int, str, bool]] = field(default_factory=list)  # (line, id, redone)
    retried: int = 0
    forgotten: list[str] = field(default_factory=list)  # ids gone from the input, never sent

    def action(self, key: str) -> Action:
        decision = self.decisions.get(key)
        return Action.CREATE if decision is None else decision.action


def plan_run(
    items: Iterable[Item | BadLine],
    entries: Mapping[str, Entry],
    *,
    retry: frozenset[str] = frozenset(),
    redo_changed: bool = False,
) -> Plan:
    """Decide for every item of the input that the journal knows (the others are new).
    Raises ``InputError`` when ids that reached the server are gone from the input."""
    plan = Plan()
    left = dict(entries)
    for item in items:
        entry = left.pop(item.key, None)
        if entry is None:
            if isinstance(item, BadLine):
                plan.decisions[item.key] = Decision(Action.BAD, item)
            continue
        plan.decisions[item.key] = _decide(plan, item, entry, retry, redo_changed)
    gone = {k: e for k, e in left.items() if e.digest is not None}
    if gone:
        shown = [f"{k!r} (line {e.line_no})" for k, e in sorted(gone.items())[:5]]
        more = f" and {len(gone) - 5} more" if len(gone) > 5 else ""
        raise InputError(
            f"the input no longer has items that reached the server: {', '.join(shown)}{more}; "
            "the journal binds the ids of the items that ran: restore those lines, or choose "
            "another -o (and --journal) to start over"
        )
    plan.forgotten = sorted(left)
    return plan


def _decide(
    plan: Plan, item: Item | BadLine, entry: Entry, retry: frozenset[str], redo_changed: bool
) -> Decision:
    if entry.digest is None:  # never reached the server: evaluated afresh, as it is now
        return _afresh(item)
    changed = isinstance(item, BadLine) or item.digest != entry.digest
    if changed and redo_changed:
        plan.changed.append((item.line_no, item.key, True))
        return _afresh(item)
    decision = _by_state(plan, item, entry, retry, changed)
    if changed:
        plan.changed.append((item.line_no, item.key, decision.action is Action.CREATE))
    return decision


def _afresh(item: Item | BadLine) -> Decision:
    return Decision(Action.BAD if isinstance(item, BadLine) else Action.CREATE, item)


def _by_state(
    plan: Plan, item: Item | BadLine, entry: Entry, retry: frozenset[str], changed: bool
) -> Decision:
    if entry.state is State.DONE and entry.outcome is not None:
        if entry.status in retry:
            return _rerun(plan, item, entry)
        return Decision(Action.SETTLED, item, entry)
    if entry.state is State.SENDING:
        if UNCERTAIN in retry:
            return _rerun(plan, item, entry)
        return Decision(Action.UNCERTAIN, item, entry)
    if entry.state is State.CONTINUING:  # its next response may exist: never sent blind
        if UNCERTAIN in retry:
            return _rerun(plan, item, entry)
        return Decision(Action.UNCERTAIN, item, entry)
    if entry.state is State.CREATED:
        return Decision(Action.TRACK, item, entry)
    # THREAD: its run may exist on the thread; a line that no longer makes an Assistants run
    # cannot be looked for there, and is not created again either.
    ok = isinstance(item, Item) and item.kind == entry.kind and not changed
    return Decision(Action.THREAD if ok else Action.UNCERTAIN, item, entry)


def _rerun(plan: Plan, item: Item | BadLine, entry: Entry) -> Decision:
    """A retried item: created again, unless its line cannot run any more (then what the
    journal has stands: a bad line is not a retry)."""
    if isinstance(item, BadLine):
        state = Action.SETTLED if entry.state is State.DONE else Action.UNCERTAIN
        return Decision(state, item, entry)
    plan.retried += 1
    return Decision(Action.CREATE, item, entry)
