"""Work-time distributions beyond one lognormal: mixtures, and a distribution per model.

A benchmark of a schedule that learns must run on durations the client is not told and that
are not all one lognormal (a mix of short and long prompts; two models in one run). So
``MockConfig.duration_mix`` maps a model name or assistant id (``"*"``: every other job) to
parts ``(weight, median_s, sigma)``; a job draws its part from its own stream (so adding a
mix moves no other draw), then its work time from that part's lognormal. Jobs whose model
has no entry (and no ``"*"``) keep ``duration_median_s`` / ``duration_sigma``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ConfigurationError

__all__ = ["DurationMix", "check_mix", "parse_mix", "work_time"]

Part = tuple[float, float, float]  # weight, median_s, sigma
DurationMix = Mapping[str, tuple[Part, ...]]


def parse_mix(raw: Any) -> dict[str, tuple[Part, ...]]:
    """A mix from its JSON shape ``{"model": [[weight, median_s, sigma], ...]}``."""
    if not isinstance(raw, Mapping):
        raise ConfigurationError("duration_mix must be an object of model -> [[w, median, sigma]]")
    mix: dict[str, tuple[Part, ...]] = {}
    for model, parts in raw.items():
        if not isinstance(parts, Sequence) or isinstance(parts, str):
            raise ConfigurationError(f"duration_mix[{model!r}] must be a list of parts")
        out = []
        for part in parts:
            if not (isinstance(part, Sequence) and len(part) == 3):
                raise ConfigurationError(f"a duration_mix part is [w, median_s, sigma]: {part!r}")
            if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in part):
                raise ConfigurationError(f"a duration_mix part holds numbers: {part!r}")
            out.append((float(part[0]), float(part[1]), float(part[2])))
        mix[str(model)] = tuple(out)
    return mix


def check_mix(mix: DurationMix) -> None:
    for model, parts in mix.items():
        if not model or not parts:
            raise ConfigurationError(f"duration_mix[{model!r}] needs a name and parts")
        for weight, median_s, sigma in parts:
            if not (weight > 0 and median_s > 0 and sigma >= 0):
                raise ConfigurationError(
                    f"duration_mix[{model!r}]: need weight > 0, median_s > 0, sigma >= 0"
                )


def work_time(
    rng: random.Random,
    median_s: float,
    sigma: float,
    *,
    mix: DurationMix,
    model: str | None,
    part_rng: random.Random,
) -> float:
    """One job's work time: from ``mix`` when it names the job's model (or has ``"*"``)."""
    parts = mix.get(model or "") or mix.get("*")
    if parts:
        total = sum(w for w, _, _ in parts)
        u = part_rng.random() * total
        for weight, median_s, sigma in parts:  # noqa: B007 (the last part catches rounding)
            u -= weight
            if u < 0:
                break
    return rng.lognormvariate(math.log(median_s), sigma)
