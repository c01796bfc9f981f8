"""`testbed generate`: checksums, coherent TCP streams, valid TLS records, the topology's addresses."""

from __future__ import annotations

import struct

import dpkt
import pytest

from testbed.cli import main
from testbed.packets import ip
from testbed.packets.capture import read_ip
from testbed.traffic.apps import PROFILES
from testbed.traffic.generate import EPOCH, generate


def _checksums_ok(packet: bytes) -> bool:
    if ip.checksum(packet[:20]) != 0:
        return False
    proto, src, dst = packet[9], packet[12:16], packet[16:20]
    l4 = packet[20:]
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    return ip.checksum(pseudo + l4) in (0, 0xFFFF)


@pytest.mark.parametrize("strategy", ["none", "vpn-tcp443", "turn-tcp443"])
def test_headers_checksums_and_tcp_streams(strategy: str) -> None:
    apps = list(PROFILES) if strategy == "none" else ["whatsapp", "sip"]
    packets, flows = generate(apps, strategy, 3, seed=5)
    assert [t for t, _ in packets] == sorted(t for t, _ in packets) and packets[0][0] > EPOCH
    assert all(_checksums_ok(p) for _, p in packets)
    assert sum(f.packets for f in flows) == len(packets)
    streams: dict[tuple, list[tuple[int, int, int, bytes]]] = {}
    for _, packet in packets:
        d = ip.parse_ip(packet)
        assert d is not None
        if d.proto == ip.TCP:
            seq, ack = struct.unpack_from("!II", packet, 24)
            streams.setdefault((d.src, d.sport, d.dst, d.dport), []).append((seq, ack, d.tcp_flags, d.payload))
    assert streams
    for segments in streams.values():
        flags = [f for _, _, f, _ in segments]
        assert flags[0] & ip.TCP_SYN and sum(bool(f & ip.TCP_FIN) for f in flags) == 1
        nxt = segments[0][0] + 1                      # the SYN takes one sequence number
        for seq, _, f, payload in segments[1:]:
            assert seq == nxt, "a gap or an overlap in the stream"
            nxt += len(payload) + bool(f & ip.TCP_FIN)
            assert len(payload) <= 1460


def test_tls_records_fit() -> None:
    packets, flows = generate(["web"], "none", 2, seed=1)
    stream = b"".join(ip.parse_ip(p).payload for _, p in packets
                      if ip.parse_ip(p).sport == 443)          # the server's side, in order
    records = 0
    off = 0
    while off < len(stream):
        kind, _, length = struct.unpack_from("!BHH", stream, off)
        assert kind in (20, 22, 23) and length <= 2 ** 14 + 2048
        off += 5 + length
        records += 1
    assert off == len(stream) and records > 40


def test_addresses_are_the_topologys() -> None:
    _, flows = generate(["whatsapp", "sip"], "vpn", 2, seed=2)
    assert {f.server[0] for f in flows} == {"198.51.100.10"}       # tbvpn
    _, flows = generate(["whatsapp", "sip"], "none", 2, seed=2)
    assert {f.server[0] for f in flows} == {"157.240.1.60", "10.10.255.5"}
    assert all(f.client[0].startswith("10.10.") for f in flows)
    sip = [f for f in flows if f.app == "sip"]
    signalling = {f.call: f.start for f in sip if f.role == "signalling"}
    assert all(f.start > signalling[f.call] + 1.9 for f in sip if f.role == "media")   # after the 200 OK


def test_cli_writes_a_pcap_and_refuses_unknown_names(tmp_path, capsys) -> None:
    out = tmp_path / "x.pcap"
    assert main(["generate", "--app", "viber,game", "--calls", "2", "--pcap", str(out)]) == 0
    assert len(list(read_ip(out))) == len(generate(["viber", "game"], "none", 2, seed=1)[0])
    with open(out, "rb") as f:
        assert dpkt.pcap.Reader(f).datalink() in (dpkt.pcap.DLT_RAW, 101)
    assert main(["generate", "--app", "fax", "--pcap", str(out)]) == 2
    assert main(["generate", "--app", "sip", "--circumvention", "tor", "--pcap", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown app 'fax'" in err and "unknown circumvention 'tor'" in err
