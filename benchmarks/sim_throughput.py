"""Simulator throughput: our simulator vs a bare SimPy model, side by side in one process.

Both see the same Poisson arrivals and exponential holding times (same rate, same
seed). The bare model only holds each call for its holding time. Ours places every
call through the workload (retries, circumvention adoption) and the simulated
network: a DPI verdict from the real classifier for each call (cached per
variant of its first packets, see testbed/sim/network.py), the policy's action,
path quality and the E-model MOS, and keeps a record per call.

    python benchmarks/sim_throughput.py [--calls 1000000] [--policy anrt-2016]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import simpy

from testbed.config.scenario import AppShare, Circumvention, Holding, Retry, Scenario, TopologyRef, Workload
from testbed.policy.load import load_policy, resolve
from testbed.run import run_cell

HOLDING_S = 120.0
CALLS_PER_S = 50.0


def bare_simpy(calls: int, seed: int) -> tuple[int, float]:
    """The reference: Poisson arrivals, one process per call holding for an exponential time."""
    env = simpy.Environment()
    rng = random.Random(seed)
    done = [0]

    def call(holding: float):  # type: ignore[no-untyped-def]
        yield env.timeout(holding)
        done[0] += 1

    def source():  # type: ignore[no-untyped-def]
        for _ in range(calls):
            yield env.timeout(rng.expovariate(CALLS_PER_S))
            env.process(call(rng.expovariate(1 / HOLDING_S)))

    env.process(source())
    start = time.perf_counter()
    env.run()
    return done[0], time.perf_counter() - start


def ours(calls: int, seed: int, policy_name: str) -> tuple[int, float, dict]:
    apps = {"whatsapp": AppShare(0.4), "viber": AppShare(0.15), "skype": AppShare(0.1), "imo": AppShare(0.1),
            "sip": AppShare(0.25)}
    workload = Workload(duration_s=calls / CALLS_PER_S, calls_per_hour=CALLS_PER_S * 3600, apps=apps,
                        subscribers=10_000, holding=Holding("exponential", HOLDING_S), answer_probability=0.9,
                        retry=Retry(max_attempts=2, backoff_s=30), variants=16)
    policy = load_policy(resolve(policy_name))
    scenario = Scenario("bench", TopologyRef("operator_edge", {"subscribers": 8}), workload, (policy_name,),
                        {"vpn": Circumvention("vpn", 0.3, 2)}, seed=seed, policy_objects={policy_name: policy})
    start = time.perf_counter()
    cell = run_cell(scenario, policy_name, "vpn")
    return cell.summary["attempts"], time.perf_counter() - start, cell.summary | cell.extra


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--policy", default="anrt-2016")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    n_bare, t_bare = bare_simpy(args.calls, args.seed)
    n_ours, t_ours, summary = ours(args.calls, args.seed, args.policy)
    bare_rate, our_rate = n_bare / t_bare, n_ours / t_ours
    print(f"bare SimPy : {n_bare:>9,} calls in {t_bare:6.2f} s = {bare_rate:>10,.0f} calls/s")
    print(f"testbed sim: {n_ours:>9,} calls in {t_ours:6.2f} s = {our_rate:>10,.0f} calls/s "
          f"(policy {args.policy}, {summary['classifications']} classifier runs, "
          f"hit {summary['hit_pct']}%, success {summary['success_pct']}%)")
    print(f"ratio      : {our_rate / bare_rate:.2f}x bare SimPy (target >= 0.5x); "
          f"{args.calls:,} calls {'under' if t_ours < 30 else 'OVER'} 30 s ({t_ours:.1f} s)")


if __name__ == "__main__":
    main()
