"""The probes' packets judged by tshark: our DNS (RFC 1035), TCP and TLS bytes decode with no
malformed packet and no expert error, and say what we meant — the names queried and answered,
the SNI of each ClientHello, the HTTP requests. And our DNS parser reads real DNS (the corpus)
as tshark does. Not root and no tshark: skipped; as root (CI) ``make test`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed import referee
from testbed.dpi.classifier import Classifier
from testbed.packets import dns
from testbed.packets.capture import read_ip, write_ip
from testbed.packets.ip import UDP, parse_ip
from testbed.policy.model import NO_POLICY
from testbed.probe import ooni
from testbed.probe.reach import ProbeFlow, ReachPlan, wire_packets
from topologies import TOPOLOGIES

CORPUS_DNS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "pcap" / "alexa-app.pcapng"


def _tshark() -> None:
    if shutil.which("tshark") is None:
        if os.geteuid() == 0:
            pytest.fail("tshark is missing: make test installs it (Debian package)")
        pytest.skip("tshark not installed (make test installs it as root)")


def _fields(pcap: Path, *names: str, display: str = "") -> list[list[str]]:
    args = ["tshark", "-n", "-r", str(pcap), "-T", "fields"] + [a for n in names for a in ("-e", n)]
    if display:
        args += ["-Y", display]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_tshark_reads_every_probe_packet_as_meant(tmp_path: Path) -> None:
    _tshark()
    topo = TOPOLOGIES["operator_edge"](calling_apps=1)
    info = {h: topo.nodeInfo(h) for h in topo.hosts()}
    flows: list[ProbeFlow] = []

    def keep(flow: ProbeFlow, port: int, start: float) -> None:
        flows.append(flow)
        return None

    for app in ("whatsapp", "telegram", "messenger"):
        test = ooni.test_for(app, info)
        assert test is not None
        ReachPlan(test, ooni.resolver(info) or "", ooni.zone(info)).simulate(keep, "referee")
    packets: list[tuple[float, bytes]] = []
    for i, flow in enumerate(flows):
        packets += [(i + t, p) for t, p in wire_packets(flow, "10.10.0.3", 40000 + i)]
    pcap = tmp_path / "probes.pcap"
    write_ip(pcap, packets)
    expert = referee.tshark(pcap)
    print(f"{len(packets)} packets, {len(flows)} flows; tshark: {dict(expert.protocols)}")
    assert expert.malformed == 0 and not expert.errors, expert
    names = {row[0] for row in _fields(pcap, "dns.qry.name", display="dns.flags.response == 0")}
    answered = {tuple(row) for row in _fields(pcap, "dns.qry.name", "dns.a", display="dns.flags.response == 1")}
    records = ooni.zone(info)
    assert names == set(records) and answered == set(records.items())
    sni = {row[0] for row in _fields(pcap, "tls.handshake.extensions_server_name", display="tls.handshake.type == 1")}
    assert sni == {"v.whatsapp.net", "web.whatsapp.com", "web.telegram.org"}
    requests = {tuple(row) for row in _fields(pcap, "http.request.method", "http.host", display="http.request")}
    assert requests == {("GET", "web.whatsapp.com"), ("POST", "149.154.167.51")}
    # and the DPI, with no policy, sees them as tshark does: DNS is not a call, the names are the apps'
    classifier = Classifier(NO_POLICY, identify=True, keep_flows=True)
    for t, p in sorted(packets):
        classifier.feed(p, t)
    named = {v.app for v in classifier.finish()}
    assert {"WhatsApp", "Telegram"} <= named and not named & {"WhatsAppCall", "TelegramVoip"}


def test_our_dns_parser_reads_real_dns_as_tshark_does() -> None:
    _tshark()
    if not CORPUS_DNS.exists():
        pytest.skip(f"no corpus capture {CORPUS_DNS}")
    ours = []
    for _, packet in read_ip(CORPUS_DNS):
        d = parse_ip(packet)
        if d is not None and d.proto == UDP and d.sport == dns.PORT and d.payload:
            r = dns.parse_response(d.payload)
            ours.append((r.name, ",".join(r.addresses)))
    theirs = [(row[0].split(",")[0], row[1] if len(row) > 1 else "")
              for row in _fields(CORPUS_DNS, "dns.qry.name", "dns.a", display="dns.flags.response == 1 && udp")]
    assert len(ours) >= 10 and ours == theirs
