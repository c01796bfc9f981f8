"""The simulated network and the workload: what each policy action does to calls."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest

from testbed.call.records import BUSY, COMPLETED, DROPPED, NO_ANSWER, NO_MEDIA
from testbed.config.scenario import AppShare, Circumvention, Holding, Retry, Scenario, TopologyRef, Workload
from testbed.policy.load import load_policy, resolve
from testbed.policy.model import NO_POLICY, Action, Match, Policy, Rule
from testbed.run import Cell, run_cell

NO_CIRCUMVENTION = Circumvention()


def scenario(policy: Policy, apps: dict[str, float], circ: Circumvention = NO_CIRCUMVENTION, **workload) -> Scenario:  # type: ignore[no-untyped-def]
    spec = Workload(duration_s=3600, calls_per_hour=600, apps={a: AppShare(s) for a, s in apps.items()},
                    subscribers=20_000, holding=Holding("exponential", 60), answer_probability=1.0,
                    retry=Retry(1, 30), variants=8)
    spec = replace(spec, **workload)
    return Scenario("t", TopologyRef("operator_edge", {"subscribers": 4}), spec, (policy.name,), {"c": circ},
                    seed=3, policy_objects={policy.name: policy})


def run(policy: Policy, apps: dict[str, float], circ: Circumvention = NO_CIRCUMVENTION, **workload) -> Cell:  # type: ignore[no-untyped-def]
    s = scenario(policy, apps, circ, **workload)
    return run_cell(s, policy.name, "c")


def one_rule(action: Action, match: Match) -> Policy:
    return Policy("p", (Rule("r", match, action, 1),))


ANRT = load_policy(resolve("anrt-2016"))


def test_no_policy_calls_complete_with_good_mos() -> None:
    cell = run(NO_POLICY, {"whatsapp": 0.5, "sip": 0.5})
    assert cell.summary["success_pct"] == 100.0
    assert 4.2 < cell.summary["median_mos"] < 4.45
    assert cell.summary["hit_pct"] == 0.0


def test_drop_fails_after_setup_timeout_chat_untouched() -> None:
    cell = run(ANRT, {"whatsapp": 1.0}, flows_per_hour={"whatsapp_chat": 600, "web": 600})
    assert {c.outcome for c in cell.calls} == {NO_MEDIA}
    assert cell.summary["success_pct"] == 0.0
    assert cell.summary["median_ttb_packets"] == 1.0  # WhatsApp's TURN attribute is in the first packet
    assert cell.summary["collateral_pct"] == 0.0
    assert cell.per_app["whatsapp_chat"]["dpi_apps"] == {"WhatsApp": cell.per_app["whatsapp_chat"]["flows"]}
    assert all(c.rule == "anrt-2016/ott-calls" for c in cell.calls)


def test_operator_sip_passes_anrt() -> None:
    cell = run(ANRT, {"sip": 1.0})
    assert cell.summary["success_pct"] == 100.0 and cell.summary["hit_pct"] == 0.0


def test_throttle_below_the_codec_rate_loses_the_excess() -> None:
    # G.711 is 80 kbit/s on the wire; a 64 kbit/s meter loses 20%, a 16 kbit/s one 80%
    mild = run(one_rule(Action("throttle", kbps=64), Match(l4="udp")), {"sip": 1.0})
    harsh = run(one_rule(Action("throttle", kbps=16), Match(l4="udp")), {"sip": 1.0})
    assert mild.summary["mean_loss_pct"] == pytest.approx(20.2, abs=0.5)
    assert mild.summary["success_pct"] > 95 and mild.summary["median_mos"] < 3.0  # a few short calls lose > 30%
    # above max_call_loss_pct (30%); a call of a few packets may be lucky
    assert {c.outcome for c in harsh.calls if c.duration_s > 5 or c.outcome != COMPLETED} == {DROPPED}


def test_degrade_lowers_mos_but_calls_complete() -> None:
    base = run(NO_POLICY, {"whatsapp": 1.0})
    bad = run(one_rule(Action("degrade", loss_pct=5, jitter_ms=40), Match(apps=("WhatsAppCall",))), {"whatsapp": 1.0})
    assert bad.summary["success_pct"] == 100.0
    assert bad.summary["median_mos"] < base.summary["median_mos"] - 0.5
    jitter = statistics.median(c.jitter_ms for c in bad.calls)
    assert jitter > statistics.median(c.jitter_ms for c in base.calls) + 30  # RFC 3550 J ≈ 1.13 σ


def test_retries_then_abandon() -> None:
    cell = run(ANRT, {"whatsapp": 1.0}, retry=Retry(3, 20))
    by_intent: dict[int, list] = {}
    for c in cell.calls:
        by_intent.setdefault(c.intent_id, []).append(c)
    finished = [v for v in by_intent.values() if v[0].t_start < 3000]
    assert finished and all(len(v) == 3 for v in finished)
    # a failed attempt takes the post-dial delay, the ring and the setup timeout, then the back-off;
    # PDD as the wire would show it had the relay's answer come: 2 × one way (access 15, switches
    # 1 + 1, transit 20, relay 1 ms) + the 80 ms the relay takes to answer WhatsApp's Allocate
    pdd_s = 2 * (15 + 1 + 1 + 20 + 1) / 1000 + 0.080
    assert all(c.pdd_ms is None for c in cell.calls)   # no answer ever came back: none measured
    for attempts in finished:
        gaps = [b.t_start - a.t_start for a, b in zip(attempts, attempts[1:])]
        assert all(g == pytest.approx(20 + 6 + 10 + pdd_s, abs=1e-6) for g in gaps)


def test_no_answer_is_not_retried() -> None:
    cell = run(NO_POLICY, {"sip": 1.0}, answer_probability=0.5, retry=Retry(3, 20))
    no_answer = [c for c in cell.calls if c.outcome == NO_ANSWER]
    assert 0.4 < len(no_answer) / len(cell.calls) < 0.6
    assert all(c.attempt == 1 for c in cell.calls)
    assert cell.summary["success_pct"] == 100.0  # no-answer is the callee, not the network


def test_vpn_adoption_after_failures_gets_calls_through() -> None:
    circ = Circumvention("vpn", share=1.0, after_failures=2)
    cell = run(ANRT, {"whatsapp": 1.0}, circ, retry=Retry(3, 20), subscribers=200)
    assert cell.summary["adopters_pct"] > 50
    vpn = [c for c in cell.calls if c.strategy == "vpn" and c.outcome != BUSY]
    assert vpn and all(c.outcome == COMPLETED for c in vpn)
    assert {c.dpi_app for c in vpn} == {"OpenVPN"}
    # the tunnel goes via the VPN server: longer path, lower MOS than calling direct with no policy
    direct = run(NO_POLICY, {"whatsapp": 1.0})
    assert statistics.median(c.delay_ms for c in vpn) > statistics.median(c.delay_ms for c in direct.calls)


def test_operator_calls_never_take_the_workaround() -> None:
    circ = Circumvention("vpn", share=1.0, after_failures=0)
    cell = run(NO_POLICY, {"sip": 0.5, "whatsapp": 0.5}, circ)
    assert {c.strategy for c in cell.calls if c.app == "sip"} == {"none"}
    assert {c.strategy for c in cell.calls if c.app == "whatsapp"} == {"vpn"}


def test_diurnal_profile_shapes_arrivals() -> None:
    weights = [0.0] * 12 + [1.0] * 12
    cell = run(NO_POLICY, {"sip": 1.0}, duration_s=86400, diurnal=tuple(weights))
    hours = [int(c.t_start // 3600) for c in cell.calls]
    assert all(h >= 12 for h in hours)
    assert len(hours) == pytest.approx(600 * 24, rel=0.05)  # the daily volume is kept


def test_lognormal_holding_keeps_its_mean() -> None:
    cell = run(NO_POLICY, {"sip": 1.0}, duration_s=36000, holding=Holding("lognormal", 60, 1.0))
    assert statistics.fmean(c.duration_s for c in cell.calls) == pytest.approx(60, rel=0.08)
