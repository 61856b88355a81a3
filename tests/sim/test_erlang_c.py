"""The simulator against queueing theory: M/M/c, first come first served, Erlang C.

Each case simulates enough patients that the standard error of the simulated mean wait
(estimated by batch means, printed on failure) is about a third of the 5% allowed. The
seeds are fixed, so the outcome is the same on every run.
"""

from __future__ import annotations

import math
import statistics
from concurrent.futures import ProcessPoolExecutor

import pytest

from sim.profile import steady_profile
from sim.run import Run, simulate
from sim.theory import erlang_c_wait_s

SERVICE_MEAN_MIN = 6.0
WARMUP_H = 50.0
PATIENTS = {
    # chosen so that the standard error is about a third of the 5% allowed: the mean wait
    # of a busy queue (and of a quiet one with many counters) varies slowly
    (1, 0.5): 150_000, (1, 0.7): 150_000, (1, 0.9): 1_600_000,
    (2, 0.5): 150_000, (2, 0.7): 150_000, (2, 0.9): 600_000,
    (4, 0.5): 450_000, (4, 0.7): 300_000, (4, 0.9): 600_000,
}  # fmt: skip
# Minutes of arithmetic in the module fixture (181 to 308 s seen, on 2 CPUs): more than the
# suite's 300 s for a hung test allows on a slower or busier machine.
pytestmark = pytest.mark.timeout(1800)
RUN_PATIENTS = 400_000
"""Long cases are split into independent runs of at most this many, spread over 2 processes."""
Case = tuple[int, float]


def seed_of(case: Case, run: int) -> int:
    """Its own random stream for every run of every case, so no two share their luck."""
    counters, rho = case
    return 20261121 + 1000 * counters + round(rho * 100) + 100_000 * run


def simulated_waits(task: tuple[Case, int, int]) -> tuple[Case, float, float, int]:
    """Sum of waits, sum of batch-mean squares helper, and count of one independent run."""
    (counters, rho), seed, patients = task
    arrivals_per_hour = rho * counters * 60 / SERVICE_MEAN_MIN
    hours = WARMUP_H + patients / arrivals_per_hour
    profile = steady_profile(arrivals_per_hour, SERVICE_MEAN_MIN, "exponential", counters, hours)
    run = Run(profile, policies=("fifo",), seed=seed, warmup_s=WARMUP_H * 3600, detailed=False)
    (day,) = simulate(run)["fifo"]
    waits = [v.wait_s for v in day.visits if v.wait_s is not None and v.joined_s >= run.warmup_s]
    size = len(waits) // 10
    batches = [statistics.fmean(waits[i * size : (i + 1) * size]) for i in range(10)]
    return (counters, rho), sum(waits), statistics.variance(batches) / 10, len(waits)


@pytest.fixture(scope="module")
def simulated() -> dict[Case, tuple[float, float, int]]:
    """Mean wait, its standard error (batch means, 10 per run) and patients, per case."""
    tasks = [
        (case, seed_of(case, run), math.ceil(patients / math.ceil(patients / RUN_PATIENTS)))
        for case, patients in PATIENTS.items()
        for run in range(math.ceil(patients / RUN_PATIENTS))
    ]
    tasks.sort(key=lambda t: -t[2] / (t[0][0] * t[0][1]))  # longest first, for balance
    with ProcessPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(simulated_waits, tasks))
    results = {}
    for case in PATIENTS:
        mine = [r for r in runs if r[0] == case]
        total, count = sum(r[1] for r in mine), sum(r[3] for r in mine)
        # runs are independent: the variance of the pooled mean, weighting runs by size
        variance = sum(r[2] * (r[3] / count) ** 2 for r in mine)
        results[case] = (total / count, math.sqrt(variance), count)
    return results


@pytest.mark.parametrize(("counters", "rho"), list(PATIENTS))
def test_mean_wait_matches_erlang_c_within_5_percent(
    simulated: dict[Case, tuple[float, float, int]], counters: int, rho: float
) -> None:
    mean_s, standard_error_s, patients = simulated[(counters, rho)]
    arrivals_per_hour = rho * counters * 60 / SERVICE_MEAN_MIN
    theory_s = erlang_c_wait_s(arrivals_per_hour, SERVICE_MEAN_MIN * 60, counters)
    error = mean_s / theory_s - 1
    print(
        f"c={counters} rho={rho}: {mean_s:.1f} s ± {standard_error_s:.1f} "
        f"({patients} patients), Erlang C {theory_s:.1f} s, {error:+.2%}"
    )
    assert abs(error) < 0.05, (
        f"c={counters} rho={rho}: simulated {mean_s:.1f} s (standard error "
        f"{standard_error_s:.1f} s, {patients} patients) against Erlang C {theory_s:.1f} s"
    )


@pytest.mark.parametrize(
    ("arrivals_per_hour", "service_mean_s", "counters", "expected_s"),
    [
        # M/M/1: rho / (mu - lambda) = 0.5 / (1/360 - 1/720) = 360
        (5, 360, 1, 360.0),
        # M/M/2, offered 1 erlang: P(wait) = 1/3, wait = 1/3 * 360 / (2 * 0.5) = 120
        (10, 360, 2, 120.0),
    ],
)
def test_erlang_c_formula(
    arrivals_per_hour: float, service_mean_s: float, counters: int, expected_s: float
) -> None:
    assert erlang_c_wait_s(arrivals_per_hour, service_mean_s, counters) == pytest.approx(expected_s)


def test_erlang_c_refuses_an_overloaded_queue() -> None:
    with pytest.raises(ValueError, match="utilisation"):
        erlang_c_wait_s(20, 360, 2)
