from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchpoll._learn import SIGMA_FLOOR, DurationModel, fit_lognormal, optimal_schedule


def simulate(next_age, draws: list[float]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    checks, lag = 0, 0.0
    for d in draws:
        age = 0.0
        while True:
            age = next_age(age)
            checks += 1
            if age >= d:
                lag += age - d
                break
    return checks / len(draws), lag / len(draws)


@settings(max_examples=25, deadline=None)
@given(median=st.floats(0.5, 120), sigma=st.floats(0.3, 1.2), width=st.floats(0.05, 0.3))
def test_interval_censored_fit_recovers_the_distribution(
    median: float, sigma: float, width: float
) -> None:
    rng = random.Random(1)
    intervals = []
    for _ in range(400):
        d = median * math.exp(sigma * rng.gauss(0, 1))
        step = width * median  # checks every `step` seconds: d is known only to that bracket
        lo = math.floor(d / step) * step
        intervals.append((lo, lo + step))
    mu, s = fit_lognormal(intervals, math.log(6.0), 0.8, 3.0)
    assert math.exp(mu) == pytest.approx(median, rel=0.15)
    assert s == pytest.approx(sigma, abs=0.12)


def test_right_censored_jobs_pull_the_estimate_up() -> None:
    done = [(4.0, 5.0)] * 50
    with_running = done + [(20.0, math.inf)] * 50
    mu_done, _ = fit_lognormal(done, math.log(6.0), 0.8, 3.0)
    mu_all, _ = fit_lognormal(with_running, math.log(6.0), 0.8, 3.0)
    assert mu_all > mu_done + 0.5


@pytest.mark.parametrize(
    ("median", "sigma", "lam", "checks", "lag"),
    # DESIGN.md §5, from an independent computation: (checks, mean-ish lag p50).
    [
        (8, 0.6, 1, 2.45, 1.84),
        (8, 0.6, 2, 3.18, 1.31),
        (8, 0.6, 4, 4.27, 0.93),
        (30, 0.8, 1, 4.75, 4.20),
        (30, 0.8, 4, 8.93, 2.09),
    ],
)
def test_dp_optimum_reproduces_the_design_table(
    median: float, sigma: float, lam: float, checks: float, lag: float
) -> None:
    rng = random.Random(5)
    draws = [median * math.exp(sigma * rng.gauss(0, 1)) for _ in range(20_000)]
    schedule = optimal_schedule(math.log(median), sigma, lam, min_interval_s=0.05)
    got_checks, _ = simulate(schedule.next_age, draws)
    assert got_checks == pytest.approx(checks, rel=0.05)
    lags = []
    for d in draws:
        age = 0.0
        while age < d:
            age = schedule.next_age(age)
        lags.append(age - d)
    lags.sort()
    assert lags[len(lags) // 2] == pytest.approx(lag, rel=0.1)


@given(median=st.floats(0.5, 300), sigma=st.floats(0.1, 2.0), lam=st.floats(0.1, 20))
@settings(max_examples=30, deadline=None)
def test_schedule_always_moves_forward(median: float, sigma: float, lam: float) -> None:
    schedule = optimal_schedule(math.log(median), sigma, lam, min_interval_s=0.1)
    age = 0.0
    for _ in range(200):
        nxt = schedule.next_age(age)
        assert nxt > age
        age = nxt


def test_model_learns_online_with_bounded_memory() -> None:
    model = DurationModel(prior_median_s=6.0, window=128)
    rng = random.Random(3)
    assert not model.trained
    for _ in range(2000):
        d = 20 * math.exp(0.5 * rng.gauss(0, 1))
        lo = math.floor(d / 2) * 2
        model.observe(lo, lo + 2)
    assert model.trained
    assert model.median_s == pytest.approx(20, rel=0.15)
    assert len(model._intervals) == 128
    assert 0.0 <= model.chance_done(10, 15) <= 1.0
    assert model.chance_done(10, 40) > model.chance_done(10, 15)
    assert model.next_age(0.0) > 0


def test_a_class_with_no_finish_yet_takes_its_kinds_spread_and_fits_its_scale() -> None:
    # A kind of ~3 s jobs (sigma 0.5); a class of it whose 12 probes all still run at 16 s.
    # Censored jobs say where the class's durations start, not how widely they spread: fitted
    # both ways, the class looked heavy-tailed (sigma 2.3, median 256 s, next check at 30 s).
    from batchpoll._survival import edge_of

    rng = random.Random(1)
    parent = DurationModel()
    for _ in range(200):
        d = 3.0 * math.exp(0.5 * rng.gauss(0, 1))
        lo = math.floor(d * 2) / 2
        parent.observe(lo, lo + 0.5)
    child = DurationModel(parent=parent)
    child.refit({edge_of(16.0): 12.0})
    assert child.sigma == pytest.approx(parent.sigma)
    assert 20.0 <= child.median_s <= 40.0
    assert child.next_age(16.0) <= 21.0
    # A kind of near-identical jobs lends no narrower spread than SIGMA_FLOOR.
    narrow = DurationModel()
    for _ in range(40):
        narrow.observe(2.0, 3.0)
    for _ in range(10):
        narrow.observe(5.0, math.inf)
    assert narrow.sigma < SIGMA_FLOOR
    other = DurationModel(parent=narrow)
    other.refit({edge_of(5.0): 190.0})
    assert other.sigma == SIGMA_FLOOR
    # Once one of its own jobs finished, the class fits its spread itself.
    other.observe(6.0, 9.0)
    other.refit()
    assert other.sigma != SIGMA_FLOOR
