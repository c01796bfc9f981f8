"""Simulator throughput: our simulator vs a bare SimPy model, side by side in one process.

Both see the same Poisson arrivals and exponential holding times (same rate, same
seed). The bare model only holds each call for its holding time. Ours places every
call through the workload and the simulated network: a DPI verdict from the real
classifier for each call (cached per variant of its first packets, see
testbed/sim/network.py), the policy's action, path quality, the load and queues of
its links, busy callers, the E-model MOS, a record per call and the aggregates (as
``testbed run --no-csv --no-html``: each record aggregated as its call ends, none
kept), and the cell's probes at the end. It runs twice: with one attempt a call (the
same work as the bare model's calls) and with retries (a blocked call is tried again
after a back-off, with VPN adoption: more attempts than arrivals).

Times are CPU seconds of this process (``time.process_time``): the machine's cores are
shared, and what another process takes is not ours. Each repetition runs the three side
by side; the ratios printed are the medians over the repetitions. Peak memory (the
maximum resident set, ``ru_maxrss``) is measured in a fresh process per size.

    python benchmarks/sim_throughput.py [--calls 1000000] [--repeat 3] [--policy anrt-2016]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import time

import simpy

from testbed.config.scenario import AppShare, Circumvention, Holding, Retry, Scenario, TopologyRef, Workload
from testbed.policy.load import load_policy, resolve
from testbed.run import fewer_collections, run_cell

HOLDING_S = 120.0
CALLS_PER_S = 50.0
ONE_ATTEMPT_TARGET, RETRIES_TARGET, MEMORY_TARGET = 0.6, 0.45, 1.2


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
    start = time.process_time()
    env.run()
    return done[0], time.process_time() - start


def ours(calls: int, seed: int, policy_name: str, attempts: int = 1) -> tuple[int, float, dict]:
    """(call arrivals placed, CPU seconds, summary): the whole run_cell, aggregation included."""
    apps = {"whatsapp": AppShare(0.4), "viber": AppShare(0.15), "skype": AppShare(0.1), "imo": AppShare(0.1),
            "sip": AppShare(0.25)}
    workload = Workload(duration_s=calls / CALLS_PER_S, calls_per_hour=CALLS_PER_S * 3600, apps=apps,
                        subscribers=10_000, holding=Holding("exponential", HOLDING_S), answer_probability=0.9,
                        retry=Retry(max_attempts=attempts, backoff_s=30), variants=16)
    policy = load_policy(resolve(policy_name))
    scenario = Scenario("bench", TopologyRef("operator_edge", {"subscribers": 8}), workload, (policy_name,),
                        {"vpn": Circumvention("vpn", 0.3, 2)}, seed=seed, policy_objects={policy_name: policy})
    start = time.process_time()
    cell = run_cell(scenario, policy_name, "vpn", records=False)
    return cell.summary["intents"], time.process_time() - start, cell.summary | cell.extra


def peak_mb(calls: int, policy: str) -> float:
    """The peak resident memory, in MB, of a fresh process simulating ``calls`` calls (one attempt each)."""
    out = subprocess.run([sys.executable, __file__, "--memory-of", str(calls), "--policy", policy],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--policy", default="anrt-2016")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--memory-sizes", default="100000,1000000", help="call counts whose peak memory is compared")
    p.add_argument("--memory-of", type=int, help=argparse.SUPPRESS)   # the child of peak_mb
    args = p.parse_args()
    if args.memory_of:
        ours(args.memory_of, args.seed, args.policy)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)   # kB on Linux
        return
    ratios: dict[int, list[float]] = {1: [], 2: []}
    for r in range(1, args.repeat + 1):
        with fewer_collections():  # the same collector settings as run_cell, for a fair comparison
            n_bare, t_bare = bare_simpy(args.calls, args.seed)
        bare_rate = n_bare / t_bare
        print(f"[{r}/{args.repeat}] bare SimPy          : {n_bare:>9,} calls in {t_bare:6.2f} s = "
              f"{bare_rate:>9,.0f} calls/s", flush=True)
        for attempts, label in ((1, "one attempt a call"), (2, "with retries")):
            n, t, summary = ours(args.calls, args.seed, args.policy, attempts)
            ratios[attempts].append(n / t / bare_rate)
            print(f"[{r}/{args.repeat}] testbed, {label:18}: {n:>9,} calls in {t:6.2f} s = {n / t:>9,.0f} calls/s = "
                  f"{n / t / bare_rate:.2f}x bare ({summary['attempts']:,} attempts, policy {args.policy}, "
                  f"{summary['classifications']} classifier runs, hit {summary['hit_pct']}%)", flush=True)
    one, retries = statistics.median(ratios[1]), statistics.median(ratios[2])
    print(f"median of {args.repeat}: {one:.2f}x bare with one attempt a call (target >= {ONE_ATTEMPT_TARGET}), "
          f"{retries:.2f}x with retries (target >= {RETRIES_TARGET})")
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    if len(sizes) >= 2:
        peaks = {n: peak_mb(n, args.policy) for n in sizes}
        for n, mb in peaks.items():
            print(f"peak memory, {n:>9,} calls (--no-csv --no-html): {mb:6.1f} MB")
        growth = peaks[sizes[-1]] / peaks[sizes[0]]
        print(f"peak memory at {sizes[-1]:,} calls = {growth:.2f}x that at {sizes[0]:,} (target <= {MEMORY_TARGET})")


if __name__ == "__main__":
    main()
