"""``_lagcap``: the seed loop's mean lag and the plans' on plain bin masses, and the one scale
of the lag weight that keeps the plans no slower than the seed loop."""

from __future__ import annotations

import math
import random

import pytest

from batchpoll._lagcap import SCALES, expected_lag, lag_scale, seed_lag
from batchpoll._learn import DurationModel
from batchpoll._survival import lognormal_prior, optimal_schedule


def simulated_seed_lag(median_s: float, sigma: float, n: int = 20_000) -> float:
    rng = random.Random(1)
    total = 0.0
    for _ in range(n):
        d = median_s * math.exp(sigma * rng.gauss(0, 1))
        age, step = 0.0, 0.5
        while age < d:
            age += step
            step = min(step * 1.5, 5.0)
        total += age - d
    return total / n


@pytest.mark.parametrize(("median_s", "sigma"), [(3.0, 0.8), (20.0, 0.5), (8.0, 1.2)])
def test_the_seed_loops_lag_matches_a_simulation(median_s: float, sigma: float) -> None:
    p = lognormal_prior(median_s, sigma)
    assert seed_lag(p) == pytest.approx(simulated_seed_lag(median_s, sigma), rel=0.05)


def test_a_higher_lag_weight_plans_less_lag() -> None:
    p = lognormal_prior(20.0, 0.5)
    lags = [expected_lag(p, optimal_schedule(p, w, min_interval_s=0.25)) for w in (1, 2, 4)]
    assert lags[0] > lags[1] > lags[2]
    assert lags[1] == pytest.approx(1.98, abs=0.1)  # B2's DP at lambda = 2 (docs/schedule.md)


def trained(median_s: float, sigma: float, n: int = 64) -> DurationModel:
    model = DurationModel(prior_median_s=median_s, prior_sigma=sigma, min_interval_s=0.25)
    rng = random.Random(2)
    for _ in range(n):
        d = median_s * math.exp(sigma * rng.gauss(0, 1))
        model.observe(d * 0.97, d * 1.03)
    model.refit()
    assert model.trained
    return model


def test_the_scale_is_one_where_the_plan_is_already_faster_than_the_seed_loop() -> None:
    models = {"responses": trained(3.0, 0.8), "responses:a": trained(3.0, 0.8)}
    assert lag_scale(models, 2.0, 0.95) == 1.0


def test_the_scale_rises_until_the_plans_are_no_slower_than_the_seed_loop() -> None:
    # Heavy tail: at lambda = 2 the plan's lag is the seed loop's (2.0 s against 1.8 s).
    model = trained(8.0, 1.2, n=256)
    models = {"responses": model, "responses:a": model}
    scale = lag_scale(models, 2.0, 0.95)
    assert scale in SCALES
    assert scale > 1.0
    assert expected_lag(model.p, model.schedule(2.0 * scale)) <= 0.95 * seed_lag(model.p)


def test_kind_wide_and_untrained_models_do_not_count() -> None:
    cold = DurationModel(prior_median_s=60.0)
    assert lag_scale({"responses": trained(8.0, 1.2), "responses:a": cold}, 2.0, 0.95) == 1.0
