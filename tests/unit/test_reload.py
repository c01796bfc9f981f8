"""Another policy on a running switch: the compiler's reload on a fake flow table, the
classifier's rules swapped with what it learned kept."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("os_ken", reason="the 'emu' extra (os-ken) is not installed")

from testbed.dpi.classifier import Classifier
from testbed.policy import compiler
from testbed.policy.load import load_policy, resolve
from testbed.policy.model import TAP, Policy
from testbed.traffic.apps import PROFILES
from testbed.traffic.wire import Endpoints, packets
from tests.fakes.oftable import FakeOFTable

SUB, RELAY, CHAT, WEB = "10.10.0.2", "157.240.1.60", "157.240.1.53", "93.184.216.34"


def udp(src: str, dst: str, sport: int, dport: int) -> dict:
    return {"eth_type": 0x800, "ip_proto": 17, "ipv4_src": src, "ipv4_dst": dst, "udp_src": sport, "udp_dst": dport}


def tcp(src: str, dst: str, sport: int, dport: int) -> dict:
    return {"eth_type": 0x800, "ip_proto": 6, "ipv4_src": src, "ipv4_dst": dst, "tcp_src": sport, "tcp_dst": dport}


def policy(name: str) -> Policy:
    return load_policy(resolve(name))


def first_verdict(classifier: Classifier, app: str, cport: int) -> object:
    plan = PROFILES[app].build(random.Random(3), 24)[0]
    for t, pkt in packets(plan, Endpoints(SUB, cport, RELAY if app == "whatsapp" else CHAT, plan.server_port)):
        verdict = classifier.feed(pkt, t)
        if verdict is not None:
            return verdict
    return classifier.flush()[0]


def test_reload_swaps_the_pipeline_and_keeps_the_verdicts_entries() -> None:
    anrt = compiler.compile_policy(policy("anrt-2016"))
    table = FakeOFTable()
    table.apply(compiler.setup_messages(anrt))
    classifier = Classifier(anrt.policy)
    verdict = first_verdict(classifier, "whatsapp", 40000)
    table.apply(compiler.verdict_messages(anrt, verdict, 1, compiler.MeterPool()))   # type: ignore[arg-type]
    decided = udp(SUB, RELAY, 40000, 3478)
    assert table.is_dropped(decided) and table.to_controller(udp(SUB, RELAY, 40001, 3478))
    before = len(table.entries)

    # generation 1: the address block; its entries go in before the old ones go
    block = compiler.compile_policy(policy("ip-block"))
    msgs = compiler.reload_messages(block, 1)
    assert type(msgs[-1]).__name__ == "OFPBarrierRequest" and msgs[-2].command == 3   # OFPFC_DELETE last
    table.apply(msgs)
    assert table.is_dropped(tcp(SUB, CHAT, 40000, 5222))            # chat now cut by address
    assert table.is_dropped(udp(RELAY, SUB, 3478, 40002))
    assert table.to_controller(tcp(SUB, WEB, 40000, 443))          # everything else inspected still
    assert table.lookup(udp(SUB, "10.10.255.5", 40000, 5060)).priority == compiler.PRIO_INSPECT  # anrt's allow gone
    verdict_entries = [e for e in table.entries if e.priority == compiler.PRIO_VERDICT]
    assert len(verdict_entries) == 2                                # the decided flow's, both ways, kept

    # generation 2: nothing — the lift; a tap deployment on top changes the inspect entries
    lifted = compiler.compile_policy(Policy("lift", deployment=TAP))
    table.apply(compiler.reload_messages(lifted, 2))
    assert table.is_output(tcp(SUB, CHAT, 40001, 5222)) and table.to_controller(tcp(SUB, CHAT, 40001, 5222))
    assert table.is_dropped(decided)                                # until its entry expires
    assert [e.priority for e in table.entries if e.priority >= compiler.PRIO_PROACTIVE - 100] == []
    assert {e.cookie >> compiler.GENERATION_SHIFT for e in table.entries if e.priority != compiler.PRIO_VERDICT} \
        == {2}
    assert len(table.entries) == 5 < before   # the miss, two inspect entries, the decided flow's two


def test_classifier_set_policy_keeps_decided_flows_and_judges_new_ones() -> None:
    classifier = Classifier(policy("none"))
    allowed = first_verdict(classifier, "whatsapp", 40000)
    assert allowed.action.kind == "allow"                           # type: ignore[attr-defined]
    classifier.set_policy(policy("anrt-2016"))
    again = first_verdict(classifier, "whatsapp", 40000)            # the same flow's packets again
    assert again is allowed
    dropped = first_verdict(classifier, "whatsapp", 40001)          # a new flow meets the new rules
    assert dropped.action.kind == "drop" and dropped.rule == "anrt-2016/ott-calls"   # type: ignore[attr-defined]
    classifier.set_policy(policy("none"))
    assert first_verdict(classifier, "whatsapp", 40002).action.kind == "allow"        # type: ignore[attr-defined]
    assert classifier.policy.name == "none"
