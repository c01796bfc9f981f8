"""Real circumvention daemons and SIPp on the emulated network, one Session for the module.

Under anrt-2016: WhatsApp calls through real OpenVPN (UDP 1194, TCP 443) and through real
coturn (TURN over TCP and TLS on 443) complete end to end with media at the callee, while the
same call from the same host outside the tunnel is dropped at its signature; a SIPp call to the
operator's SIP server passes and one to an outside SIP server fails. Then the
VPN-fingerprinting policy stops the OpenVPN tunnels from coming up at all; tshark reads the
run's capture without an error; and a short workload's cells carry their adopters' calls
through the daemons (``testbed.emu.circumvent``), as ``testbed run --emulate`` does.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from testbed import referee
from testbed.emu.circumvent import STRATEGIES, Daemons
from testbed.emu.openvpn import TRANSPORTS
from testbed.emu.session import Session
from testbed.emu.sipp import Sipp
from testbed.topo import path
from tests.integration.conftest import edge, plans, policy

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    topo = edge()
    s = Session(topo, tmp_path_factory.mktemp("daemons"), log=lambda line: None)
    s.__enter__()
    try:
        s.set_policies(policy("anrt-2016"))
        s.start_capture("dpi.pcapng")
        found = Daemons(s)
        for strategy in STRATEGIES:
            found.server(strategy)
        sipp = Sipp(s)
        yield {"s": s, "topo": topo, "vpn": found.vpn, "turn": found.turn, "sipp": sipp, "daemons": found}
        sipp.close()
        found.close()
    finally:
        s.close()


def _verdicts_to(s: Session, server: str, port: int) -> list[Any]:
    ip = socket.inet_aton(s.ips[server])
    return [d.verdict for key, d in s.verdicts.items() if key[3] == ip and key[4] == port]


def _media_both_ways(reports: dict, spec: Any) -> tuple[Any, Any]:
    client, server = reports[(spec.id, "client")], reports[(spec.id, "server")]
    assert client.aborted is None and server.recv.media >= 0.95 * client.sent_media > 100
    assert client.recv.media >= 0.95 * server.sent_media > 100
    return client, server


def test_calls_through_real_openvpn_complete_and_others_do_not_enter_the_tunnel(daemons) -> None:
    s, vpn, topo = daemons["s"], daemons["vpn"], daemons["topo"]
    tunnel_ips = {name: vpn.connect("tb1s1", name) for name in TRANSPORTS}
    assert tunnel_ips == {"vpn": "10.8.0.2", "vpn-tcp443": "10.9.0.2"}
    call = plans("whatsapp")[0]
    tunnelled = {}
    for name, t in TRANSPORTS.items():
        spec = s.spec("tb1s1", "tbwa", call, hold=3)   # the VPN host NATs: the relay sees it, same port
        tunnelled[name] = replace(spec, mark=t.mark, client_seen=(s.ips["tbvpn"], spec.client_port))
    same_host = s.spec("tb1s1", "tbwa", call, hold=3)  # a non-adopter on the adopter's host: no mark
    reports = s.place([*tunnelled.values(), same_host])

    legs = path(topo, "tb1s1", "tbvpn").delay_ms + path(topo, "tbvpn", "tbwa").delay_ms
    for spec in tunnelled.values():
        client, server = _media_both_ways(reports, spec)
        # the path's delay once per leg (38 + 2 ms), not again for the packets inside the tunnel (that
        # would be 78 ms and more); over TCP, head-of-line waits add a few ms
        assert legs <= server.recv.delay_ms <= 1.4 * legs and legs <= client.recv.delay_ms <= 1.4 * legs
    # the DPI saw OpenVPN, by its own signature, and let it pass; it never saw the call inside
    for t in TRANSPORTS.values():
        (outer,) = _verdicts_to(s, "tbvpn", t.port)
        assert (outer.app, outer.action.kind) == ("OpenVPN", "allow")
    tunnel_srcs = {socket.inet_aton(ip) for ip in tunnel_ips.values() if ip}
    assert not [k for k in s.verdicts if k[1] in tunnel_srcs or k[3] in tunnel_srcs]
    # the unmarked call from the same host went the direct way and was dropped at its signature
    direct = s.verdicts[same_host.key].verdict
    assert (direct.app, direct.action.kind, direct.rule) == ("WhatsAppCall", "drop", "anrt-2016/ott-calls")
    assert reports[(same_host.id, "server")].recv.packets == reports[(same_host.id, "client")].recv.packets == 0
    assert reports[(same_host.id, "client")].sent_media > 100


@pytest.mark.parametrize("tls", [False, True], ids=["tcp443", "tls443"])
def test_calls_relayed_by_real_coturn_over_443_complete(daemons, tls: bool) -> None:
    s, turn = daemons["s"], daemons["turn"]
    call = plans("whatsapp")[0]
    spec = s.spec("tb1s2", "tbwa", call, hold=3)
    relay = turn.relay("tb1s2", (s.ips["tbwa"], call.server_port), tls=tls)
    assert relay.relayed[0] == s.ips["tbturn"] and 49152 <= relay.relayed[1] <= 65535
    spec = replace(spec, client_to=("127.0.0.1", relay.listen), client_seen=relay.relayed)
    reports = s.place([spec])
    _media_both_ways(reports, spec)
    outer = [v for v in _verdicts_to(s, "tbturn", 443) if v.key is not None and v.key[1] == socket.inet_aton(s.ips["tb1s2"])]
    assert outer and all(v.action.kind == "allow" for v in outer)
    assert outer[-1].app == ("TLS" if tls else "STUN")     # TURN is standard STUN: no app's marks


def test_sipp_licensed_call_passes_outside_call_fails(daemons) -> None:
    s, sipp = daemons["s"], daemons["sipp"]
    for host in ("tb1sip", "tbsipx"):
        sipp.serve(host)
    licensed = sipp.start_calls("tb1s1", "tb1sip")
    outside = sipp.start_calls("tb1s2", "tbsipx")
    ok, blocked = sipp.result(*licensed), sipp.result(*outside)
    assert (ok.exit_code, ok.successful, ok.failed) == (0, 1, 0)
    assert blocked.exit_code != 0 and (blocked.successful, blocked.failed) == (0, 1)
    (invite,) = _verdicts_to(s, "tbsipx", 5060)
    assert (invite.app, invite.action.kind, invite.rule) == ("SIP", "drop", "anrt-2016/unlicensed-voip")
    assert not _verdicts_to(s, "tb1sip", 5060)   # the operator's own service: allowed by address, proactively


def test_vpn_fingerprint_policy_stops_real_openvpn(daemons) -> None:
    s, vpn = daemons["s"], daemons["vpn"]
    for name in TRANSPORTS:
        vpn.disconnect("tb1s1", name)
    s.set_policies(policy("vpn-fingerprint"))
    before = set(s.verdicts)
    assert {name: vpn.connect("tb1s1", name, timeout=5) for name in TRANSPORTS} == {"vpn": None, "vpn-tcp443": None}
    for t in TRANSPORTS.values():
        blocked = [v for v in _verdicts_to(s, "tbvpn", t.port) if v.key not in before]
        # the client retries; every attempt is fingerprinted within its first packets
        assert blocked and all(v.action.kind == "drop" and v.rule == "vpn-fingerprint/openvpn-fingerprint"
                               and v.packet_index <= 24 for v in blocked), blocked


def test_the_runs_capture_decodes_without_errors(daemons) -> None:
    """Last: the agents' own TCP flows join the daemons' traffic, then tshark reads the DPI's capture
    (OpenVPN and TURN share port 443: each is read with its own decode-as, counting its own packets)."""
    s = daemons["s"]
    flows = [s.spec("tb1s2", server, plans(app)[0]) for app, server in
             (("web", "tbweb"), ("whatsapp_chat", "tbwac"), ("game", "tbgame"))]
    reports = s.place(flows)
    assert all(reports[(f.id, "client")].aborted is None for f in flows)
    pcap = s.stop_capture().pcap
    assert pcap is not None
    vpn, turn = s.ips["tbvpn"], s.ips["tbturn"]
    readings = {"openvpn": referee.tshark(pcap, ["tcp.port==443,openvpn"], only=f"ip.addr=={vpn}",
                                          prefs=referee.OPENVPN_PREFS),
                "turn": referee.tshark(pcap, ["tcp.port==443,stun"], only=f"ip.addr=={turn} and not tls"),
                "rest": referee.tshark(pcap, only=f"not ip.addr=={vpn} and not ip.addr=={turn}")}
    for name, expert in readings.items():
        print(f"\n{name}: tshark top protocols {dict(expert.protocols)}; errors {dict(expert.errors)}")
        assert expert.malformed == 0 and not expert.errors, name
    assert readings["openvpn"].protocols["openvpn"] > 500 and readings["turn"].protocols["stun"] > 5
    assert {"tls", "sip", "rtp"} <= set(readings["rest"].protocols)


CELLS = """
name: daemons-calls
description: Calls through the real daemons, the call path of testbed run --emulate.
seed: 5
topology: {name: operator_edge, params: {subscribers: 2, access_loss_pct: 0, access_jitter_ms: 0}}
policies: [anrt-2016, vpn-fingerprint]
circumventions:
  vpn: {strategy: vpn}
  vpn-tcp443: {strategy: vpn-tcp443}
  turn-tcp443: {strategy: turn-tcp443}
workload:
  duration_s: 8
  subscribers: 20
  calls_per_hour: 2700
  apps: {whatsapp: {share: 0.5}, skype: {share: 0.5}}
  holding: {distribution: exponential, mean_s: 4}
  ring_s: 1
  setup_timeout_s: 5
  retry: {max_attempts: 1}
"""


def test_adopters_calls_go_through_the_daemons_in_the_call_path(daemons, tmp_path: Path) -> None:
    """Every adopter (share 1) calls through the strategy's daemon: anrt-2016 lets the tunnels and
    the relay through and the calls complete; vpn-fingerprint keeps the tunnels from coming up."""
    from testbed.config.scenario import load_scenario
    from testbed.emu.run import EmuRunner

    (tmp_path / "daemons-calls.yaml").write_text(CELLS)
    scenario = load_scenario(tmp_path / "daemons-calls.yaml")
    runner = EmuRunner(scenario, daemons["s"], daemons["daemons"])
    cells = {(p, c): runner.run_cell(scenario, p, c) for p, c in
             (("anrt-2016", "vpn"), ("anrt-2016", "turn-tcp443"), ("vpn-fingerprint", "vpn-tcp443"))}
    for (p, c), cell in cells.items():
        print(f"\n{p} x {c}: {cell.outcomes} {cell.summary['ott_success_pct']}% OTT success; "
              f"dpi {cell.extra['dpi']['actions']}")
        assert len(cell.calls) >= 3
    for key in (("anrt-2016", "vpn"), ("anrt-2016", "turn-tcp443")):
        calls = [c for c in cells[key].calls if c.outcome != "busy"]   # a caller still in a call places none
        assert cells[key].summary["ott_success_pct"] >= 90
        assert all(c.action == "allow" and c.dpi_app in ("OpenVPN", "STUN") for c in calls), calls
        assert all(c.delay_ms > 38 for c in calls if c.outcome == "completed")   # the two legs, measured
    blocked = cells[("vpn-fingerprint", "vpn-tcp443")]
    assert runner.windows[-1]["tunnels_up"] == 0 and runner.windows[-1]["tunnels"] == 2
    assert blocked.summary["ott_success_pct"] == 0
    assert all(c.action == "drop" and c.rule == "vpn-fingerprint/openvpn-fingerprint"
               for c in blocked.calls if c.outcome != "busy")
