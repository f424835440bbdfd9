"""Erlang C (routing/erlang.py) against values computed here independently: closed forms for one to three
agents, and the textbook factorial formula in exact rational arithmetic, which cannot overflow."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from routing import erlang


def exact_erlang_c(agents: int, load: Fraction) -> Fraction:
    """P(wait) = (A^N / N!) N/(N-A) / (sum_{k<N} A^k/k! + (A^N / N!) N/(N-A)), with exact fractions."""
    top = load**agents / math.factorial(agents) * Fraction(agents) / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def exact_erlang_b(agents: int, load: Fraction) -> Fraction:
    top = load**agents / math.factorial(agents)
    return top / sum(load**k / math.factorial(k) for k in range(agents + 1))


def test_closed_forms_for_one_two_and_three_agents() -> None:
    # M/M/1: an arrival waits exactly when the one agent is busy, i.e. with probability rho.
    for rho in (0.1, 0.5, 0.9):
        assert erlang.erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)
    # M/M/2: C = 2 rho^2 / (1 + rho) with rho = A / 2.
    for load in (0.4, 1.0, 1.8):
        rho = load / 2
        assert erlang.erlang_c(2, load) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)
    # M/M/3 at 2 Erlangs: 4/9, the textbook example.
    assert erlang.erlang_c(3, 2.0) == pytest.approx(4 / 9, rel=1e-12)


def test_ten_agents_at_eight_erlangs() -> None:
    """The classic table point: 10 agents, 8 Erlangs (160 calls an hour of 3 minutes), 20 s target."""
    exact = exact_erlang_c(10, Fraction(8))
    c = erlang.erlang_c(10, 8.0)
    assert c == pytest.approx(float(exact), rel=1e-12)
    assert round(c, 4) == 0.4092
    figures = erlang.erlang_c_figures(10, 160.0, 180.0, 20.0)
    assert figures.load == pytest.approx(8.0)
    assert figures.probability_of_waiting == pytest.approx(c)
    # ASA = C * AHT / (N - A); SL(t) = 1 - C exp(-(N - A) t / AHT).
    assert figures.asa_seconds == pytest.approx(float(exact) * 180 / 2, rel=1e-12)
    assert figures.service_level == pytest.approx(1 - float(exact) * math.exp(-2 * 20 / 180), rel=1e-12)
    assert round(figures.asa_seconds, 1) == 36.8
    assert round(100 * figures.service_level, 1) == 67.2
    assert figures.occupancy == pytest.approx(0.8)


@pytest.mark.parametrize(("agents", "load"), [(1, Fraction(1, 3)), (4, Fraction(7, 2)), (25, Fraction(20)),
                                              (60, Fraction(1153, 20)), (300, Fraction(290))])
def test_matches_the_exact_factorial_formula(agents: int, load: Fraction) -> None:
    assert erlang.erlang_c(agents, float(load)) == pytest.approx(float(exact_erlang_c(agents, load)), rel=1e-10)
    assert erlang.erlang_b(agents, float(load)) == pytest.approx(float(exact_erlang_b(agents, load)), rel=1e-10)


def test_erlang_b_table_value() -> None:
    # The blocking tables: 10 circuits offered 5 Erlangs lose 1.84 % of calls.
    assert round(erlang.erlang_b(10, 5.0), 4) == 0.0184


def test_hundreds_of_agents_do_not_overflow() -> None:
    # 180^180 / 180! alone is beyond a float (the naive formula fails long before 500 agents).
    with pytest.raises(OverflowError):
        _ = 180.0**180 / math.factorial(180)
    for agents, load in ((500, 480.0), (2000, 1990.0), (5000, 10.0)):
        c = erlang.erlang_c(agents, load)
        assert 0.0 <= c < 1.0 and math.isfinite(c)
    assert erlang.erlang_c(500, 480.0) == pytest.approx(float(exact_erlang_c(500, Fraction(480))), rel=1e-9)


def test_service_level_at_zero_seconds_is_the_share_answered_at_once() -> None:
    assert erlang.service_level(10, 8.0, 180.0, 0.0) == pytest.approx(1 - erlang.erlang_c(10, 8.0))


def test_no_load_means_nobody_waits() -> None:
    assert erlang.erlang_c(3, 0.0) == 0.0
    assert erlang.service_level(3, 0.0, 60.0, 20.0) == 1.0
    assert erlang.average_speed_of_answer(3, 0.0, 60.0) == 0.0


@pytest.mark.parametrize(("agents", "load"), [(10, 10.0), (10, 12.5), (1, 1.0)])
def test_an_unstable_queue_is_a_clear_error(agents: int, load: float) -> None:
    for compute in (lambda: erlang.erlang_c(agents, load), lambda: erlang.service_level(agents, load, 180, 20),
                    lambda: erlang.average_speed_of_answer(agents, load, 180), lambda: erlang.occupancy(agents, load)):
        with pytest.raises(ValueError, match="unstable queue"):
            compute()


@pytest.mark.parametrize(("agents", "load"), [(0, 1.0), (-3, 1.0), (5, -1.0), (5, math.nan), (5, math.inf)])
def test_nonsense_inputs_are_refused(agents: int, load: float) -> None:
    with pytest.raises(ValueError):
        erlang.erlang_c(agents, load)


def test_agents_for_service_level_is_the_fewest_that_reach_the_target() -> None:
    # 8 Erlangs, 3-minute calls, 80 % within 20 s.
    needed = erlang.agents_for_service_level(8.0, 180.0, 20.0, 0.8)
    assert erlang.service_level(needed, 8.0, 180.0, 20.0) >= 0.8
    assert erlang.service_level(needed - 1, 8.0, 180.0, 20.0) < 0.8
    assert needed == 11
    # A tiny load still needs one agent; any target needs more agents than Erlangs.
    assert erlang.agents_for_service_level(0.01, 60.0, 20.0, 0.5) == 1
    assert erlang.agents_for_service_level(95.0, 300.0, 20.0, 0.8) > 95
    for target in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="target"):
            erlang.agents_for_service_level(8.0, 180.0, 20.0, target)
