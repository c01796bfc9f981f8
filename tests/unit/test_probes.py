"""Probes: OONI's tests as data and verdicts, their flows through the real classifier, the call probe."""

from __future__ import annotations

import ipaddress

import pytest

from testbed.call.records import CallRecord
from testbed.config.scenario import load_scenario
from testbed.dpi.classifier import Classifier
from testbed.policy.load import POLICY_DIR, load_policy
from testbed.policy.model import DEGRADE, DROP, RESET, THROTTLE, Action, Match, Policy, Rule
from testbed.probe import ooni
from testbed.probe.calls import BLOCKED, CALL_OK, DEGRADED, NO_MEDIA_VERDICT, call_verdict
from testbed.probe.reach import ReachPlan, classify_with, connection_flow, dns_flow, outcome
from testbed.run import run_cell
from topologies import TOPOLOGIES

_TOPO = TOPOLOGIES["operator_edge"](calling_apps=1)
INFO = {h: _TOPO.nodeInfo(h) for h in _TOPO.hosts()}
# Signal: its test is data here; no topology holds its front end (no profile calls with Signal)
INFO["tbsgfe"] = {"ip": "104.18.28.74/24", "role": "frontend", "fronts": ("signal",)}
ROOT_SCENARIO = "scenarios/quality-policies.yaml"


def _policy(name: str, *rules: tuple[Match, Action]) -> Policy:
    return Policy(name, tuple(Rule(f"r{i}", m, a, i) for i, (m, a) in enumerate(rules, 1)))


def _reach(app: str, policy: Policy) -> tuple[str, dict[str, str], tuple[ooni.Reached, ...]]:
    test = ooni.test_for(app, INFO)
    assert test is not None
    plan = ReachPlan(test, ooni.resolver(INFO) or "", ooni.zone(INFO))
    found = plan.simulate(classify_with(Classifier(policy), "10.10.0.3"), "t")
    verdict, keys = ooni.verdict(test, {r.target: r for r in found})
    return verdict, keys, found


def test_the_topology_answers_every_name_of_every_test() -> None:
    records = ooni.zone(INFO)
    assert ooni.resolver(INFO) == "8.8.8.8"
    assert records["e16.whatsapp.net"] == records["web.whatsapp.com"] == "157.240.1.54"
    assert records["web.telegram.org"] == "149.154.167.51" and records["sfu.voip.signal.org"] == "104.18.28.74"
    assert records["stun.fbsbx.com"] == "31.13.86.8"
    assert len(records) == 16 + 2 + 1 + 7 + 6
    telegram = ooni.test_for("telegram", INFO)
    assert telegram is not None            # of the five access points the topology holds one, on 80 and 443
    assert {(t.host, t.port) for t in telegram.targets if t.literal} == {("149.154.167.51", 80), ("149.154.167.51", 443)}
    assert ooni.test_for("viber", INFO) is None       # OONI has no Viber test


def test_key_any_and_all() -> None:
    test = ooni.TESTS["whatsapp"]
    ok = {t: ooni.Reached(t, "1.2.3.4") for t in test.targets}
    assert ooni.verdict(test, ok)[0] == ooni.ACCESSIBLE
    one_endpoint = dict(ok)
    for t in test.keys[0].targets[1:]:
        one_endpoint[t] = ooni.Reached(t, "1.2.3.4", ooni.CONNECT, ooni.TIMEOUT)
    assert ooni.verdict(test, one_endpoint)[0] == ooni.ACCESSIBLE     # one endpoint reached is enough
    web = dict(ok)
    plain = test.keys[2].targets[1]
    web[plain] = ooni.Reached(plain, "1.2.3.4", ooni.HTTP_TRANSACTION, ooni.TIMEOUT)
    assert ooni.verdict(test, web) == (ooni.BLOCKED, {"whatsapp_endpoints_status": "ok",
                                                      "registration_server_status": "ok",
                                                      "whatsapp_web_status": "blocked"})


def test_which_operation_a_stopped_packet_fails() -> None:
    import random

    from testbed.dpi.classifier import Verdict

    https = connection_flow(ooni.Target(ooni.HTTPS, "web.whatsapp.com", 443), "157.240.1.54", random.Random(1))
    milestones = dict(https.milestones)
    # SYN, SYN-ACK | ACK, ClientHello, server flight (1 segment) | CCS+Finished, request | response
    assert milestones == {"connect": 2, "tls_handshake": 6, "http_transaction": 8}

    def at(k: int, kind: str) -> Verdict:
        return Verdict("x", "y", "p/r", k, Action(kind), "test")

    assert outcome(https, at(1, DROP)) == ("connect", ooni.TIMEOUT)
    assert outcome(https, at(4, DROP)) == ("tls_handshake", ooni.TIMEOUT)      # the ClientHello
    assert outcome(https, at(4, RESET)) == ("tls_handshake", ooni.RESET)
    assert outcome(https, at(8, DROP)) == ("http_transaction", ooni.TIMEOUT)
    assert outcome(https, at(9, DROP)) == (None, None)                         # after the answer: done
    assert outcome(https, at(1, THROTTLE)) == (None, None) and outcome(https, at(1, DEGRADE)) == (None, None)
    assert dict(dns_flow("a.b", "8.8.8.8", "1.2.3.4", random.Random(1)).milestones) == {"resolve": 2}


def test_no_policy_everything_reached() -> None:
    for app in ("whatsapp", "telegram", "signal"):
        verdict, keys, found = _reach(app, Policy("none"))
        assert verdict == ooni.ACCESSIBLE and set(keys.values()) == {"ok"}
        assert all(r.failed_operation is None and r.address for r in found)


def test_address_block_fails_every_connect() -> None:
    verdict, keys, found = _reach("whatsapp", load_policy(POLICY_DIR / "ip-block.yaml"))
    assert verdict == ooni.BLOCKED and set(keys.values()) == {"blocked"}
    assert {(r.failed_operation, r.failure) for r in found} == {("connect", ooni.TIMEOUT)}
    assert "rule ip-block/whatsapp-facebook → drop" in found[0].trace[-1]


def test_a_call_block_leaves_ooni_green() -> None:
    verdict, keys, found = _reach("whatsapp", load_policy(POLICY_DIR / "anrt-2016.yaml"))
    assert verdict == ooni.ACCESSIBLE and len(found) == 16 * 2 + 3


def test_sni_block_fails_the_handshake_only_where_named() -> None:
    policy = _policy("sni", (Match(sni=("web.whatsapp.com", "telegram.org")), Action(RESET)))
    verdict, keys, found = _reach("whatsapp", policy)
    assert keys == {"whatsapp_endpoints_status": "ok", "registration_server_status": "ok",
                    "whatsapp_web_status": "blocked"}
    failed = {str(r.target): (r.failed_operation, r.failure) for r in found if r.failed_operation}
    assert failed == {"https://web.whatsapp.com:443/": ("tls_handshake", ooni.RESET)}
    verdict, keys, _ = _reach("telegram", policy)
    assert keys == {"telegram_tcp_blocking": "ok", "telegram_http_blocking": "ok", "telegram_web_status": "blocked"}


def test_a_dns_block_fails_the_lookup() -> None:
    policy = _policy("dns", (Match(l4="udp", dst=(ipaddress.ip_network("8.8.8.8/32"),)), Action(DROP)))
    verdict, _, found = _reach("signal", policy)
    assert verdict == ooni.BLOCKED
    assert {(r.failed_operation, r.failure, r.address) for r in found} == {("resolve", ooni.TIMEOUT, "")}
    verdict, keys, _ = _reach("telegram", policy)     # the access points are addresses: no lookup
    assert keys["telegram_tcp_blocking"] == "ok" and keys["telegram_web_status"] == "blocked"


def _record(outcome: str, answered: bool, mos: float = 0.0) -> CallRecord:
    return CallRecord(call_id=-1, intent_id=-1, attempt=1, t_start=0, subscriber=-1, operator="", app="whatsapp",
                      strategy="none", outcome=outcome, answered=answered, mos=mos)


def test_call_verdicts() -> None:
    assert call_verdict(_record("completed", True, 4.3)) == CALL_OK
    assert call_verdict(_record("completed", True, 3.0)) == DEGRADED
    assert call_verdict(_record("dropped", True, 3.5)) == DEGRADED       # so lossy the app hung up
    assert call_verdict(_record("no-media", True)) == NO_MEDIA_VERDICT
    assert call_verdict(_record("reset", True)) == NO_MEDIA_VERDICT       # reset after the answer
    assert call_verdict(_record("reset", False)) == BLOCKED
    assert call_verdict(_record("signalling-blocked", False)) == BLOCKED


@pytest.fixture(scope="module")
def quality() -> dict[str, object]:
    scenario = load_scenario(ROOT_SCENARIO)
    return {p: run_cell(scenario, p, "none") for p in scenario.policies}


def test_each_cell_gets_both_verdicts_per_app(quality: dict[str, object]) -> None:
    got = {p: {(a.app, a.ooni, a.call) for a in cell.probes} for p, cell in quality.items()}  # type: ignore[attr-defined]
    assert ("whatsapp", "accessible", "call ok") in got["none"]
    assert ("whatsapp", "accessible", "no media") in got["anrt-2016"]
    assert ("whatsapp", "accessible", "degraded") in got["degrade"]
    assert ("sip", None, "call ok") in got["degrade"]      # the degrade policy spares the operator's calls
    degraded = next(a for a in quality["degrade"].probes if a.app == "whatsapp")  # type: ignore[attr-defined]
    assert degraded.disagree and degraded.connected and degraded.media and degraded.mos < 3.1
    blocked = next(a for a in quality["anrt-2016"].probes if a.app == "whatsapp")  # type: ignore[attr-defined]
    assert blocked.disagree and blocked.connected and not blocked.media
    assert blocked.call_trace == ["media flow: packet 1: STUN attribute 0x4000 in packet 1 → WhatsAppCall "
                                  "→ rule anrt-2016/ott-calls → drop"]


def test_probe_records_stay_out_of_the_workload(quality: dict[str, object]) -> None:
    for cell in quality.values():
        assert all(c.call_id > 0 for c in cell.calls)  # type: ignore[attr-defined]
        assert len(cell.probes) == 5  # type: ignore[attr-defined]


def _found(operator: str, access: str, app: str, ooni_verdict: str | None, call: str) -> dict[str, object]:
    disagree = ooni_verdict is not None and (ooni_verdict == "accessible") != (call == "call ok")
    return {"app": app, "operator": operator, "access": access, "ooni": ooni_verdict, "call": call,
            "disagree": disagree}


def test_the_table_groups_where_the_probes_agree() -> None:
    from testbed.report.probes import render, rows

    lines = [(op, acc) for op in ("iam", "inwi") for acc in ("mobile", "fixed")]
    same = [_found(op, acc, "whatsapp", "accessible", "call ok") for op, acc in lines]
    mobile_only = [_found(op, acc, "whatsapp", "accessible", "no media" if acc == "mobile" else "call ok")
                   for op, acc in lines]
    one_operator = [_found(op, acc, "whatsapp", "blocked" if op == "iam" else "accessible", "blocked"
                           if op == "iam" else "call ok") for op, acc in lines]
    header, body = rows([{"policy": "p", "circumvention": "c", "phase": d, "probes": probes}
                         for d, probes in (("d1", same), ("d2", mobile_only), ("d3", one_operator))])
    assert header == ["policy", "circumvention", "phase", "where", "whatsapp"]
    assert body == [["p", "c", "d1", "", "accessible / call ok"],
                    ["p", "c", "d2", "mobile", "accessible / no media ≠"],
                    ["p", "c", "d2", "fixed", "accessible / call ok"],
                    ["p", "c", "d3", "iam", "blocked / blocked"],
                    ["p", "c", "d3", "inwi", "accessible / call ok"]]
    text = render([{"policy": "p", "circumvention": "c", "probes": [_found("iam", "", "viber", None, "no media")]}])
    assert text.splitlines()[-1].split() == ["p", "c", "–", "/", "no", "media"]
