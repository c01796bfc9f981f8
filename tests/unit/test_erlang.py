"""The simulator's capacity-limited relay against the Erlang-B formula."""

from __future__ import annotations

from dataclasses import replace

import pytest

from testbed.config.scenario import AppShare, Circumvention, Holding, Retry, Scenario, TopologyRef, Workload
from testbed.metrics.erlang import erlang_b
from testbed.policy.model import NO_POLICY
from testbed.run import run_cell
from testbed.traffic.apps import PROCESSING_MS

SERVERS = 10
HOLDING_S = 60.0


def test_erlang_b_formula_known_values() -> None:
    # textbook values: B(1 E, 1) = 0.5; B(10 E, 10) ≈ 0.2146; B(5 E, 10) ≈ 0.01838
    assert erlang_b(1, 1) == pytest.approx(0.5)
    assert erlang_b(10, 10) == pytest.approx(0.21458, abs=1e-5)
    assert erlang_b(5, 10) == pytest.approx(0.018385, abs=1e-5)


def scenario(erlangs: float, calls: int) -> Scenario:
    per_hour = erlangs / HOLDING_S * 3600
    workload = Workload(duration_s=calls / per_hour * 3600, calls_per_hour=per_hour,
                        apps={"sip": AppShare(1.0)}, subscribers=500,
                        holding=Holding("exponential", HOLDING_S), answer_probability=1.0, ring_s=0.0,
                        retry=Retry(max_attempts=1), variants=4)
    return Scenario("erlang", TopologyRef("dumbbell", {"relay_capacity": SERVERS, "delay_ms": 0}), workload,
                    ("none",), {"none": Circumvention()}, seed=7, policy_objects={"none": NO_POLICY})


@pytest.mark.parametrize("erlangs", [5.0, 8.0, 12.0])
def test_blocking_matches_erlang_b(erlangs: float) -> None:
    cell = run_cell(scenario(erlangs, 20_000), "none", "none")
    attempts = cell.summary["attempts"]
    assert attempts >= 20_000 * 0.97  # Poisson count around 20,000
    simulated = cell.summary["capacity_blocked_pct"] / 100
    # the relay slot is held for set-up (the post-dial delay: processing only, links have no delay)
    # plus the holding time
    expected = erlang_b(erlangs * (HOLDING_S + PROCESSING_MS / 1000) / HOLDING_S, SERVERS)
    print(f"A={erlangs} E, N={SERVERS}: simulated {100 * simulated:.2f}% vs Erlang-B {100 * expected:.2f}% "
          f"over {attempts} calls")
    assert abs(simulated - expected) < 0.01


def test_more_servers_block_less() -> None:
    few = run_cell(scenario(8.0, 5_000), "none", "none").summary["capacity_blocked_pct"]
    s = scenario(8.0, 5_000)
    more = run_cell(replace(s, topology=TopologyRef("dumbbell", {"relay_capacity": 14, "delay_ms": 0})),
                    "none", "none").summary["capacity_blocked_pct"]
    assert more < few / 3
