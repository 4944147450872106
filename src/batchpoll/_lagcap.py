"""Never slower than the tutorial: the knob's lag weight, scaled up where the learned plan
would detect finishes later on average than the seed loop (a check at create, then 0.5 s
growing 1.5 times, capped at 5 s) would on the same fitted durations.

One scale for every class, not one per class: the run's mean lag is what counts, and one lag
weight across classes is what the optimum uses (a scale per class spent checks on a long
class, where lag is dear, that a short class would have bought for less: B2's two classes
went from 1.17 to 1.25-1.38 x the optimum). Pure: plain masses and schedules in, a number out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._classes import kind_wide
from ._learn import DurationModel
from ._survival import BINS, EDGES, MIDS, RATIO, Schedule

__all__ = ["SCALES", "expected_lag", "lag_scale", "seed_lag"]

# The scales tried, in order: the first whose plan's mean lag is under the ceiling is used.
SCALES = (1.0, 1.5, 2.25, 3.4, 5.0, 7.6)


def expected_lag(p: Sequence[float], schedule: Schedule) -> float:
    """Mean detection lag of ``schedule`` for bin masses ``p`` (each bin's at its middle)."""
    ages, following = schedule.ages, schedule.following
    middle = MIDS
    total = 0.0
    i = j = 0
    n = len(p)
    while True:
        nxt_i = following[i]
        nxt = ages[nxt_i]
        while j < n and middle[j] <= nxt:
            total += p[j] * (nxt - middle[j])
            j += 1
        if nxt_i <= i or nxt_i >= len(ages) - 1:
            return total
        i = nxt_i


def seed_lag(
    p: Sequence[float], first_s: float = 0.5, growth: float = 1.5, cap_s: float = 5.0
) -> float:
    """Mean detection lag of the seed loop for bin masses ``p`` (uniform within a bin)."""
    checks = [0.0]
    step = first_s
    while checks[-1] < EDGES[-1]:
        checks.append(checks[-1] + step)
        step = min(step * growth, cap_s)
    total = 0.0
    k = 0
    for j, mass in enumerate(p):
        if mass <= 0.0:
            continue
        lo = EDGES[j]
        hi = EDGES[j + 1] if j + 1 < BINS else lo * RATIO
        while k < len(checks) and checks[k] <= lo:
            k += 1
        a = lo
        while a < hi and k < len(checks):
            b = min(hi, checks[k])
            total += mass * (b - a) / (hi - lo) * (checks[k] - (a + b) / 2)
            a = b
            if b >= checks[k]:
                k += 1
    return total


def lag_scale(models: Mapping[str, DurationModel], weight: float, ceiling: float) -> float:
    """The scale of the lag weight ``weight`` under which the plans of the trained classes
    among ``models`` (by class key; kind-wide models are their priors, not plans), each
    weighed by its finished jobs, have a mean lag of at most ``ceiling`` x the seed loop's
    (the last of ``SCALES`` when none does; 1 while no class is trained)."""
    classes = [
        (float(m.observed), m) for key, m in models.items() if m.trained and kind_wide(key) != key
    ]
    total = sum(n for n, _ in classes)
    if total <= 0:
        return 1.0
    seed = sum(n * seed_lag(m.p) for n, m in classes) / total
    for scale in SCALES:
        lag = sum(n * expected_lag(m.p, m.schedule(weight * scale)) for n, m in classes) / total
        if lag <= ceiling * seed:
            return scale
    return SCALES[-1]
