"""Simulator throughput: our simulator vs a bare SimPy model, side by side in one process.

Both see the same Poisson arrivals and exponential holding times (same rate, same
seed). The bare model only holds each call for its holding time. Ours places every
call through the workload and the simulated network: a DPI verdict from the real
classifier for each call (cached per variant of its first packets, see
testbed/sim/network.py), the policy's action, path quality and the E-model MOS, a
record per call and the aggregation at the end. It runs twice: with one attempt a
call (the same work as the bare model's calls) and with retries (a blocked call is
tried again after a back-off, with VPN adoption: more attempts than arrivals).

    python benchmarks/sim_throughput.py [--calls 1000000] [--policy anrt-2016]
"""

from __future__ import annotations

import argparse
import random
import time

import simpy

from testbed.config.scenario import AppShare, Circumvention, Holding, Retry, Scenario, TopologyRef, Workload
from testbed.policy.load import load_policy, resolve
from testbed.run import fewer_collections, run_cell

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


def ours(calls: int, seed: int, policy_name: str, attempts: int = 1) -> tuple[int, float, dict]:
    """(call arrivals placed, seconds, summary): the whole run_cell, aggregation included."""
    apps = {"whatsapp": AppShare(0.4), "viber": AppShare(0.15), "skype": AppShare(0.1), "imo": AppShare(0.1),
            "sip": AppShare(0.25)}
    workload = Workload(duration_s=calls / CALLS_PER_S, calls_per_hour=CALLS_PER_S * 3600, apps=apps,
                        subscribers=10_000, holding=Holding("exponential", HOLDING_S), answer_probability=0.9,
                        retry=Retry(max_attempts=attempts, backoff_s=30), variants=16)
    policy = load_policy(resolve(policy_name))
    scenario = Scenario("bench", TopologyRef("operator_edge", {"subscribers": 8}), workload, (policy_name,),
                        {"vpn": Circumvention("vpn", 0.3, 2)}, seed=seed, policy_objects={policy_name: policy})
    start = time.perf_counter()
    cell = run_cell(scenario, policy_name, "vpn")
    return cell.summary["intents"], time.perf_counter() - start, cell.summary | cell.extra


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--policy", default="anrt-2016")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    with fewer_collections():  # the same collector settings as run_cell, for a fair comparison
        n_bare, t_bare = bare_simpy(args.calls, args.seed)
    bare_rate = n_bare / t_bare
    print(f"bare SimPy          : {n_bare:>9,} calls in {t_bare:6.2f} s = {bare_rate:>9,.0f} calls/s")
    for attempts, label in ((1, "one attempt a call"), (2, "with retries")):
        n, t, summary = ours(args.calls, args.seed, args.policy, attempts)
        print(f"testbed, {label:18}: {n:>9,} calls in {t:6.2f} s = {n / t:>9,.0f} calls/s = "
              f"{n / t / bare_rate:.2f}x bare ({summary['attempts']:,} attempts, policy {args.policy}, "
              f"{summary['classifications']} classifier runs, hit {summary['hit_pct']}%)")
    print("targets: >= 0.5x bare SimPy; 1,000,000 calls in under 30 s")


if __name__ == "__main__":
    main()
