"""The simulator's physics against hand calculations, and the direction each effect moves a call."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import replace

import pytest

from testbed.config.scenario import AppShare, Circumvention, Holding, Retry, Scenario, TopologyRef, Workload
from testbed.metrics.playout import buffer_ms, normal_late_fraction, playout
from testbed.metrics.summary import _p10
from testbed.policy.load import load_policy, resolve
from testbed.policy.model import NO_POLICY, Action, Match, Policy, Rule
from testbed.run import Cell, run_cell
from testbed.sim import physics
from testbed.sim.links import Links, mm1k, queue
from testbed.traffic.apps import PROFILES
from testbed.traffic.circumvention import STRATEGIES, overhead_bytes
from topologies import TOPOLOGIES

ANRT = load_policy(resolve("anrt-2016"))


def cell(policy: Policy = NO_POLICY, strategy: str = "none", topo: dict | None = None, **workload) -> Cell:  # type: ignore[no-untyped-def,type-arg]
    spec = Workload(duration_s=3600, calls_per_hour=400, apps={"whatsapp": AppShare(1.0)}, subscribers=50_000,
                    holding=Holding("exponential", 60), answer_probability=1.0, retry=Retry(1, 30), variants=8)
    spec = replace(spec, **workload)
    params = {"subscribers": 4, **(topo or {})}
    s = Scenario("t", TopologyRef("operator_edge", params), spec, (policy.name,),
                 {"c": Circumvention(strategy)}, seed=7, policy_objects={policy.name: policy})
    return run_cell(s, policy.name, "c")


# -- TCP tunnels ---------------------------------------------------------------------------------
def test_tcp_stall_is_a_round_trip_and_racks_window_plus_the_rto_backoff() -> None:
    # 1% loss, 100 ms RTT, 20 ms frames: RACK resends once the next frame is acknowledged and
    # a quarter RTT has passed: 100 + max(20, 25) = 125 ms, + 0.01 × 200 / (1 - 0.02) = 2.04 ms
    assert physics.stall_ms(0.01, 100, 20) == pytest.approx(127.04, abs=0.01)
    # a short round trip: the next frame's acknowledgement comes last (40 + max(20, 10) = 60 ms);
    # a long one: three duplicate ACKs come before a quarter RTT (400 + min(100, 60) = 460 ms)
    assert physics.stall_ms(0.0, 40, 20) == 60 and physics.stall_ms(0.0, 400, 20) == 460
    # packets that miss a 10 ms buffer behind that stall: ceil((127.04 - 10) / 20) = 6
    assert physics.late_per_loss(127.04, 10, 20) == 6
    late, burst = physics.tcp_late(0.01, 100, 20, 10, kbps=100)
    assert late == pytest.approx(0.06) and burst == pytest.approx(6 * 0.94)


def test_tcp_cannot_carry_more_than_its_loss_limited_throughput() -> None:
    # Mathis: 1448 B × 8 × √1.5 / (0.1 s × √0.01) = 1418.7 kbit/s
    assert physics.tcp_capacity_kbps(0.01, 100) == pytest.approx(1418.7, abs=0.1)
    assert physics.tcp_late(0.01, 100, 20, 10, kbps=2000) == (1.0, 1.0)      # falls behind: all late
    assert physics.tcp_late(0.0, 100, 20, 10, kbps=100, meter_kbps=64) == (1.0, 1.0)  # behind a meter
    assert physics.tcp_late(0.0, 100, 20, 10, kbps=60, meter_kbps=64) == (0.0, 1.0)


@pytest.mark.parametrize("loss_pct", [1, 5, 10])
def test_a_tcp_tunnel_never_scores_above_the_same_call_over_udp(loss_pct: float) -> None:
    topo = {"access_loss_pct": loss_pct}
    udp, tcp = cell(ANRT, "vpn", topo), cell(ANRT, "vpn-tcp443", topo)
    udp_mos, tcp_mos = udp.summary["median_mos"] or 1.0, tcp.summary["median_mos"] or 1.0
    assert tcp_mos < udp_mos
    # losses over TCP come late, in bursts: its calls lose more for the E-model than UDP's
    assert (tcp.summary["mean_loss_pct"] or 100) > udp.summary["mean_loss_pct"]


def test_late_packets_count_as_lost_over_tcp() -> None:
    c = cell(ANRT, "vpn-tcp443", {"access_loss_pct": 1})
    done = [r for r in c.calls if r.outcome == "completed"]
    assert done and statistics.median(r.late_pct for r in done) > 2      # ≈ 1% × 8-10 packets a stall
    assert all(r.loss_pct >= r.late_pct for r in done)


def test_a_tcp_carried_call_through_a_tight_throttle_fails() -> None:
    # OpenVPN over TCP carries a ~100 kbit/s call; an 8 kbit/s meter cannot: it falls behind and fails
    meter = Policy("m", (Rule("all", Match(l4="tcp"), Action("throttle", kbps=8), 1),))
    c = cell(meter, "vpn-tcp443")
    assert c.summary["success_pct"] == 0.0
    assert {r.outcome for r in c.calls} == {"dropped"}


# -- playout -------------------------------------------------------------------------------------
def test_jitter_buffer_and_late_share_of_normal_jitter() -> None:
    assert buffer_ms(3) == 10 and buffer_ms(40) == 80
    # 1 - Φ(10/3) = 4.3e-4; 1 - Φ(2) = 0.0228
    assert normal_late_fraction(3) == pytest.approx(4.29e-4, rel=0.01)
    assert normal_late_fraction(40) == pytest.approx(0.02275, rel=0.01)


def test_playout_is_not_stretched_by_stalls() -> None:
    rng = random.Random(1)
    delays = [50 + rng.gauss(0, 5) for _ in range(5000)]
    for i in range(0, 5000, 100):   # a 200 ms stall every 2 s: 10 packets each, 10% of them
        for j in range(10):
            delays[i + j] += 200 - 20 * j
    p = playout(delays)
    assert p is not None
    assert p.sigma_ms == pytest.approx(5, rel=0.2) and p.buffer_ms == pytest.approx(10, rel=0.2)
    assert 0.09 < p.late / len(delays) < 0.13     # the stalled packets, and ~2% of the rest


# -- overhead from the bytes --------------------------------------------------------------------
@pytest.mark.parametrize("strategy, lo, hi", [
    # OpenVPN P_DATA_V2: opcode + peer id 4 B, packet id 4 B, AEAD tag 16 B, the inner IP/UDP 28 B
    ("vpn", 52, 52),
    # ... plus the 2 B length of a TCP stream and TCP's 40 B header instead of UDP's 28
    ("vpn-tcp443", 66, 66),
    # ChannelData 4 B + padding to 4 (0-3 B), TCP instead of UDP (+12 B)
    ("turn-tcp443", 16, 19),
    ("port-hopping", 0, 0),
])
def test_strategy_overhead_is_measured_on_the_wrapped_bytes(strategy: str, lo: float, hi: float) -> None:
    for app in ("whatsapp", "skype", "viber", "imo"):
        inner = PROFILES[app].build(random.Random(3), 24)
        assert lo <= overhead_bytes(STRATEGIES[strategy], inner, random.Random(4)) <= hi


def test_a_64k_meter_costs_vpn_users_what_their_bytes_exceed() -> None:
    # WhatsApp over OpenVPN: RTP 12 + Opus 60-120 (mean 90) + SRTP tag 10 + IP/UDP 28 = 140 B, plus
    # OpenVPN's 52 B = 192 B × 8 × 50/s = 76.8 kbit/s; a 64 kbit/s meter drops 1 - 64/76.8 = 16.7%
    meter = Policy("m", (Rule("all", Match(l4="udp"), Action("throttle", kbps=64), 1),))
    c = cell(meter, "vpn", {"access_loss_pct": 0})
    assert c.summary["mean_loss_pct"] == pytest.approx(16.7, abs=3)   # 8 variants of random Opus sizes


# -- where the VPN sits -------------------------------------------------------------------------
def test_a_vpn_detour_shows_in_delay_and_mos() -> None:
    near = cell(ANRT, "vpn", {"vpn_delay_ms": 1})
    far = cell(ANRT, "vpn", {"vpn_delay_ms": 80})
    d_near = statistics.median(r.delay_ms for r in near.calls if r.outcome == "completed")
    d_far = statistics.median(r.delay_ms for r in far.calls if r.outcome == "completed")
    assert d_far - d_near == pytest.approx(2 * 79, abs=1)     # the detour both ways: to the exit and back
    assert far.summary["median_mos"] < near.summary["median_mos"] - 0.2


# -- link capacity --------------------------------------------------------------------------------
def test_mm1k_against_its_formula() -> None:
    # ρ = 1.2, K = 50: P_K = (1 - ρ) ρ^K / (1 - ρ^(K+1))
    rho, k = 1.2, 50
    assert mm1k(rho, k)[0] == pytest.approx((1 - rho) * rho ** k / (1 - rho ** (k + 1)))
    assert mm1k(3.0)[0] == pytest.approx(1 - 1 / 3.0)      # overload: the excess is lost (fluid limit)
    loss, wait = queue(10_000, 20_000)                          # ρ = 0.5: M/M/1, 0.08 ms service / (1 - ρ)
    assert loss == 0 and wait == pytest.approx(0.16)


def test_links_carry_their_load_both_ways() -> None:
    links = Links(TOPOLOGIES["operator_edge"](subscribers=1, access_bw=2))
    ids = links.both_ways((("tb1s1", "tbacc1"), ("tbacc1", "tbdpi1")))
    links.add(ids, 3000)                # 3 Mbit/s on a 2 Mbit/s access link, each way: ρ = 1.5
    loss, _ = links.state(ids)
    assert loss == pytest.approx(1 - 1 / 1.5, abs=1e-3)


def test_calls_beyond_the_access_capacity_queue_and_lose() -> None:
    # 2 hosts × 2 Mbit/s access; G.711 at 80 kbit/s: 25 calls fill a host's link each way
    apps = {"sip": AppShare(1.0)}
    light = cell(topo={"subscribers": 2, "access_bw": 2, "access_loss_pct": 0}, apps=apps, calls_per_hour=300)
    heavy = cell(topo={"subscribers": 2, "access_bw": 2, "access_loss_pct": 0}, apps=apps, calls_per_hour=4800)
    # light: 300/h × 60 s = 5 calls in progress, ρ ≈ 0.1; heavy: 80 calls, 40 a host, ρ ≈ 1.6
    assert light.summary["mean_loss_pct"] < 0.1
    # M/M/1/K at ρ = 1.6 drops 1 - 1/1.6 = 37.5%, beyond the 30% users bear: they hang up after
    # 16 s instead of holding 60, which lowers the load — the answered calls lose less than that
    answered = [r.loss_pct for r in heavy.calls if r.answered]
    assert 15 < statistics.fmean(answered) < 37.5
    assert heavy.summary["success_pct"] < 80 and light.summary["success_pct"] == 100.0


# -- users ---------------------------------------------------------------------------------------
def test_a_subscriber_is_in_one_call_at_a_time() -> None:
    c = cell(subscribers=3, calls_per_hour=600, apps={"sip": AppShare(1.0)})
    assert c.outcomes.get("busy", 0) > 50
    by_sub: dict[int, list[tuple[float, float]]] = {}
    for r in c.calls:
        if r.outcome != "busy":
            by_sub.setdefault(r.subscriber, []).append((r.t_start, r.t_start + r.duration_s))
    for spans in by_sub.values():
        spans.sort()
        assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:]))
    assert c.summary["success_pct"] == 100.0      # busy is the user, not the network


def test_asr_counts_calls_reset_after_the_answer() -> None:
    reset = Policy("r", (Rule("ott", Match(apps=("WhatsAppCall",)), Action("reset"), 1),))
    drop = Policy("d", (Rule("ott", Match(apps=("WhatsAppCall",)), Action("drop"), 1),))
    r, d = cell(reset), cell(drop)
    assert r.summary["success_pct"] == d.summary["success_pct"] == 0.0
    assert r.summary["asr_pct"] == d.summary["asr_pct"] == 100.0


def test_every_circumvention_sees_the_same_arrivals() -> None:
    spec = Workload(duration_s=1800, calls_per_hour=2000, apps={"whatsapp": AppShare(0.7), "sip": AppShare(0.3)},
                    subscribers=500, retry=Retry(3, 20))
    circs = {"none": Circumvention(), "vpn": Circumvention("vpn", 0.3, 2), "turn": Circumvention("turn-tcp443", 0.6, 1)}
    s = Scenario("t", TopologyRef("operator_edge", {"subscribers": 4}), spec, ("anrt-2016",), circs, seed=5,
                 policy_objects={"anrt-2016": ANRT})
    cells = [run_cell(s, "anrt-2016", name) for name in circs]
    assert len({c.summary["intents"] for c in cells}) == 1
    firsts = [sorted((r.intent_id, r.t_start, r.app) for r in c.calls if r.attempt == 1) for c in cells]
    assert firsts[0] == firsts[1] == firsts[2]


def test_p10_is_the_worst_tenth() -> None:
    assert _p10([float(i) for i in range(1, 101)]) == 10.0
    assert _p10([4.0]) == 4.0 and _p10([]) is None
    assert math.isclose(_p10([3.0, 1.0, 2.0, 5.0, 4.0]), 1.0)


def test_a_degrades_wait_is_a_clipped_normal_as_the_shaper_draws_it() -> None:
    """Hand calculation: 60·Φ(1) + 60·φ(1) = 50.48 + 14.52 = 65.0 ms for 60 ± 60 ms; and the
    mean of the emulation delayer's own draws (max(0, gauss)) agrees."""
    assert physics.clipped_normal_mean(60, 60) == pytest.approx(65.0, abs=0.01)
    assert physics.clipped_normal_mean(60, 0) == 60 and physics.clipped_normal_mean(-5, 0) == 0
    rng = random.Random(3)
    draws = [max(0.0, rng.gauss(60, 60)) for _ in range(200_000)]
    assert sum(draws) / len(draws) == pytest.approx(physics.clipped_normal_mean(60, 60), abs=0.3)
