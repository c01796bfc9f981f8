"""The probes on the emulated network: an OONI-like test served for real (a DNS server, TLS with a
certificate made at run time, HTTP) and a short call, from a subscriber's namespace through the DPI.

One network, four policies, each probe's findings against what the policy does on real packets:
none — everything reached, the call fine; ip-block — every connection to WhatsApp's /16 times out
and the call gets no media; anrt-2016 — OONI's test all green while the call gets no media (the
Morocco 2016 disagreement); a policy that resets the TLS handshake naming web.whatsapp.com and
degrades WhatsApp's calls — only that key of OONI's test fails, with a reset, and the call is
degraded (measured MOS below 3.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simpy.rt

from testbed.config.scenario import AppShare, Workload
from testbed.emu.network import EmuNetwork
from testbed.emu.session import Session
from testbed.policy.model import Action, Match, Policy, Rule
from testbed.probe.run import AppProbe, probe
from tests.integration.conftest import edge, policy

pytestmark = [pytest.mark.root, pytest.mark.slow]

SPEC = Workload(duration_s=10, calls_per_hour=1, apps={"whatsapp": AppShare(0.5), "sip": AppShare(0.5)},
                ring_s=1, setup_timeout_s=4)
SNI_AND_DEGRADE = Policy("sni-degrade", (
    Rule("web", Match(sni=("web.whatsapp.com",)), Action("reset"), 1),
    Rule("calls", Match(apps=("WhatsAppCall",)), Action("degrade", loss_pct=25, jitter_ms=40), 2)))


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, AppProbe]]]:
    out: dict[str, dict[str, AppProbe]] = {}
    with Session(edge(subscribers=1), Path(tmp_path_factory.mktemp("probes")), log=lambda line: None) as s:
        private = s.probe_servers.directory
        assert private is not None and (private / "probe-frontend.key").stat().st_mode & 0o077 == 0
        for pol in (policy("none"), policy("ip-block"), policy("anrt-2016"), SNI_AND_DEGRADE):
            s.set_policies(pol)
            env = simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)
            network = EmuNetwork(s, SPEC, 1)
            run = env.process(probe(env, network, SPEC, 1, hold_s=4))
            env.run(until=run)
            out[pol.name] = {a.app: a for a in run.value}
        yield out
    assert not private.exists()   # the key and certificate went with the session


def _failed(a: AppProbe) -> set[tuple[str, Any, Any]]:
    return {(r["target"], r["failed_operation"], r["failure"]) for r in a.reached if r["failed_operation"]}


def test_no_policy(found: dict[str, dict[str, AppProbe]]) -> None:
    wa = found["none"]["whatsapp"]
    print({k: (v.ooni, v.call, v.mos) for k, v in found["none"].items()})
    assert wa.ooni == "accessible" and wa.call == "call ok" and wa.mos is not None and wa.mos > 4
    assert len(wa.reached) == 16 * 2 + 3 and not _failed(wa)
    assert {r["address"] for r in wa.reached} == {"157.240.1.54"}     # the emulated resolver answered
    assert found["none"]["sip"].ooni is None and found["none"]["sip"].call == "call ok"


def test_an_address_block_shows_in_both(found: dict[str, dict[str, AppProbe]]) -> None:
    wa = found["ip-block"]["whatsapp"]
    assert wa.ooni == "blocked" and set(wa.ooni_keys.values()) == {"blocked"}
    assert {(op, f) for _, op, f in _failed(wa)} == {("connect", "generic_timeout_error")}
    assert wa.call in ("no media", "blocked") and not wa.media
    assert any("rule ip-block/whatsapp-facebook" in t for r in wa.reached for t in r["trace"])


def test_a_call_block_leaves_ooni_green(found: dict[str, dict[str, AppProbe]]) -> None:
    wa = found["anrt-2016"]["whatsapp"]
    assert wa.ooni == "accessible" and wa.call == "no media" and wa.connected and wa.disagree
    assert any("WhatsAppCall → rule anrt-2016/ott-calls → drop" in t for t in wa.call_trace), wa.call_trace
    assert found["anrt-2016"]["sip"].call == "call ok"


def test_a_reset_handshake_and_degraded_calls(found: dict[str, dict[str, AppProbe]]) -> None:
    wa = found["sni-degrade"]["whatsapp"]
    print(wa.ooni_keys, wa.call, wa.mos, _failed(wa))
    assert wa.ooni_keys == {"whatsapp_endpoints_status": "ok", "registration_server_status": "ok",
                            "whatsapp_web_status": "blocked"}
    assert _failed(wa) == {("https://web.whatsapp.com:443/", "tls_handshake", "connection_reset")}
    trace = next(r["trace"] for r in wa.reached if r["target"] == "https://web.whatsapp.com:443/")
    assert "SNI web.whatsapp.com" in trace[-1] and "rule sni-degrade/web → reset" in trace[-1]
    assert wa.call == "degraded" and wa.media and (wa.mos is None or wa.mos < 3.1)
