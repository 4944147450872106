"""What a job's duration is learned with: its class, and the few jobs that explore a cold one.

**Classes.** A class is what predicts a duration: the kind; the model or assistant; an
input-size bucket (a 40,000-character prompt takes longer than a 400-character one); and the
tool round (the part of a run after its tool outputs were submitted learns apart: ``|resumed``
on the key, added by the planner); and the user's ``duration_hint_s`` when given (``#h<k>``: a
hint of about 2^k s, which is also the class's prior: a hinted class does not borrow from the
kind-wide model, the user's word stands until its own finishes say more). Jobs are keyed
``kind:model`` plus ``#s<k>`` when their input has at least ``2^k × 1,000`` characters
(k = 1..5). A class's model uses its kind-wide model (``kind_wide``: the same key without
model and bucket) as its prior once that one is trained, so a class with a handful of
finishes borrows from all of its kind (shrinkage).

**Exploration while cold.** In a bulk run every job is created before anything has finished.
If all of them waited for the cold prior's plan, what the first finishes teach would come
too late; if all of them were checked early, 10,000 jobs would cost 10,000 early checks. So
while a class is not trained (fewer than ``DurationModel.min_observations`` finishes), at
most ``PROBES`` of its jobs in flight are probes: they follow the plan for a lag weight
``PROBE_LAG_FACTOR`` × the knob (denser where the model puts mass, so they find the first
finishes early and, while they find none, push the estimate out as right-censored
observations). Every other job waits on the model's plan and is re-planned as it learns
(``_replan``). Exploration costs at most ``PROBES`` jobs' extra checks per class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._estimate import request_texts

if TYPE_CHECKING:
    from ._learn import DurationModel
    from ._record import Record

__all__ = [
    "PROBES",
    "PROBE_LAG_FACTOR",
    "Explore",
    "class_of",
    "hint_prior_s",
    "kind_wide",
    "size_bucket",
]

PROBES = 12
PROBE_LAG_FACTOR = 8.0
_SIZE_STEP_CHARS = 1_000
_SIZE_BUCKETS = 5
# Hints are classed by powers of two from 1/16 s to 2^20 s (12 days).
_HINT_MIN, _HINT_MAX = -4, 20


def size_bucket(chars: int) -> int:
    """0 below 2,000 characters, then k for ``[2^k, 2^(k+1)) × 1,000`` (at most 5)."""
    k = 0
    while k < _SIZE_BUCKETS and chars >= _SIZE_STEP_CHARS * 2 ** (k + 1):
        k += 1
    return k


def class_of(kind_name: str, params: Mapping[str, Any], hint_s: float | None = None) -> str:
    """The class key of a job created with ``params`` (``hint_s``: the user's
    ``duration_hint_s``, rounded to a power of two: ``#h<k>``)."""
    model = params.get("assistant_id") or params.get("model") or "-"
    key = f"{kind_name}:{model}"
    chars = sum(len(text) for text in request_texts(params))
    bucket = size_bucket(chars)
    key = f"{key}#s{bucket}" if bucket else key
    if hint_s is not None:
        key += f"#h{min(_HINT_MAX, max(_HINT_MIN, round(math.log2(hint_s))))}"
    return key


def hint_prior_s(key: str) -> float | None:
    """The prior median a hinted class starts from (its rounded hint); None for a class
    without a hint, and for the part after a tool round (the hint was for the whole job)."""
    base, bar, _ = key.partition("|")
    _, hashed, k = base.rpartition("#h")
    return 2.0 ** int(k) if hashed and not bar else None


_KIND_WIDE: dict[str, str] = {}


def kind_wide(key: str) -> str:
    """The kind-wide key of a class key (``responses:gpt-4.1#s2|resumed`` →
    ``responses|resumed``)."""
    wide = _KIND_WIDE.get(key)
    if wide is None:
        base, bar, rest = key.partition("|")
        wide = base.partition(":")[0] + bar + rest
        if len(_KIND_WIDE) < 4096:  # a cache of class names, bounded
            _KIND_WIDE[key] = wide
    return wide


class Explore:
    """The probes of each cold class (see the module docstring)."""

    __slots__ = ("_calls", "_probes")

    def __init__(self) -> None:
        self._probes: dict[int, dict[int, Record]] = {}  # by id() of the class's model, id(job)
        self._calls = 0

    def probe(self, job: Record, model: DurationModel) -> bool:
        """Whether ``job`` is (now made) one of its cold class's probes."""
        key = id(model)
        if model.trained:
            if self._probes:
                self._probes.pop(key, None)
            return False
        probes = self._probes.setdefault(key, {})
        if id(job) in probes:
            return True
        if len(probes) >= PROBES:
            self._calls += 1
            if self._calls % 64:  # pruning ended probes is O(PROBES): not on every call
                return False
            for ended in [i for i, p in probes.items() if p.done()]:
                del probes[ended]
        if len(probes) < PROBES:
            probes[id(job)] = job
            return True
        return False
