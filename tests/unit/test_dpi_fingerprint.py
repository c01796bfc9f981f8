"""The VPN fingerprint (Xue et al. 2022's opcode and ACK filters) on built flows."""

from __future__ import annotations

import random

import pytest

from testbed.dpi.classifier import Classifier
from testbed.dpi.fingerprint import OpcodeFingerprint
from testbed.packets import tls, vpn
from testbed.packets.ip import TCP, UDP
from testbed.policy.load import load_policy, resolve
from testbed.traffic.apps import PROFILES
from testbed.traffic.generate import generate


def _judge(payloads: list[tuple[int, bytes]], proto: int = UDP, n: int = 12) -> OpcodeFingerprint:
    fp = OpcodeFingerprint(n)
    for direction, payload in payloads:
        fp.add(payload, direction, proto)
    fp.finish()
    return fp


def _tunnel(strategy: str) -> list[tuple[int, bytes]]:
    from testbed.traffic.circumvention import STRATEGIES

    (plan,) = STRATEGIES[strategy].transform(PROFILES["whatsapp"].build(random.Random(2), 24), random.Random(3))
    return [(0 if s.up else 1, s.payload) for s in sorted(plan.segments, key=lambda s: s.t)]


@pytest.mark.parametrize(("strategy", "proto"), [("vpn", UDP), ("vpn-tcp443", TCP)])
def test_openvpn_with_tls_auth_is_fingerprinted(strategy: str, proto: int) -> None:
    fp = _judge(_tunnel(strategy), proto)
    assert fp.detected and "resets (opcodes 7, 8)" in fp.reason and "4 distinct opcodes in 12 packets" in fp.reason


def test_what_keeps_other_flows_out() -> None:
    tunnel = _tunnel("vpn")
    rng = random.Random(1)
    noise = [(i % 2, rng.randbytes(rng.randint(30, 200))) for i in range(30)]
    assert _judge(noise).ruled_out                                         # first bytes are not resets
    again = tunnel[:8] + [tunnel[0]] + tunnel[8:]                           # a client reset after the handshake
    assert _judge(again).ruled_out
    bulk = tunnel[:2] + [(i % 2, vpn.openvpn_control(vpn.OPENVPN_ACK_V1, b"s" * 8, 0, acks=(i,),
                                                     remote_session=b"r" * 8)) for i in range(10)]
    assert _judge(bulk).ruled_out                                           # the early packets all ACK-sized
    framed = _tunnel("vpn-tcp443")
    cut = [(framed[0][0], framed[0][1][:20])] + framed[1:]                  # TCP: not one whole packet first
    assert _judge(cut, TCP).ruled_out
    hello = tls.client_hello("www.example.com", b"r" * 32)
    assert _judge([(0, hello), (1, tls.server_hello(b"s" * 32, b"", b"k" * 32))] + tunnel[2:], TCP).ruled_out


def test_n_is_the_policys() -> None:
    policy = load_policy(resolve("vpn-fingerprint"))
    assert policy.fingerprint_packets == 12 and policy.rules[-1].match.behaviour == "openvpn-fingerprint"
    flows = generate(["whatsapp", "sip", "web", "game", "whatsapp_chat"], "none", 4, seed=3)[0]
    tunnels = generate(["whatsapp", "viber", "sip"], "vpn", 4, seed=3)[0] + \
        generate(["skype", "imo"], "vpn-tcp443", 4, seed=3)[0]
    for capture, expected in ((tunnels, "drop"), (flows, None)):
        c = Classifier(policy, keep_flows=True)
        for ts, packet in sorted(capture):
            c.feed(packet, ts)
        verdicts = c.finish()
        fingerprinted = [v for v in verdicts if v.rule == "vpn-fingerprint/openvpn-fingerprint"]
        if expected:
            assert len(fingerprinted) == len(verdicts) == 20 and all(v.action.kind == "drop" for v in verdicts)
            assert all(v.packet_index <= 16 for v in verdicts)    # before the tunnel's data (TCP: + handshake)
        else:
            assert fingerprinted == []


def test_tcp_segments_cut_anywhere_retransmitted_or_reordered_are_read_as_openvpn_packets() -> None:
    """TCP cuts OpenVPN's stream where it likes: here every packet after the resets is re-cut into
    segments of 100 bytes (one full-size segment ending inside a packet made a real tunnel escape),
    one segment comes twice and two arrive swapped; read by sequence number, it is the same tunnel."""
    framed = _tunnel("vpn-tcp443")
    resets = {d: p for d, p in reversed(framed[:2])}
    streams = {d: b"".join(p for dd, p in framed[2:] if dd == d) for d in (0, 1)}
    segments: list[tuple[int, bytes, int]] = [(d, resets[d], 1000 * (d + 1)) for d in (0, 1)]
    cut = {d: [(1000 * (d + 1) + len(resets[d]) + i, streams[d][i:i + 100]) for i in range(0, len(streams[d]), 100)]
           for d in (0, 1)}
    for i in range(max(map(len, cut.values()))):
        segments += [(d, *cut[d][i][::-1]) for d in (0, 1) if i < len(cut[d])]
    segments.insert(5, segments[4])                      # a retransmission
    segments[7], segments[8] = segments[8], segments[7]  # a reordering (or a loss before the DPI)
    fp = OpcodeFingerprint(12)
    for d, payload, seq in segments:
        fp.add(payload, d, TCP, seq)
    fp.finish()
    whole = _judge(framed, TCP)
    assert fp.detected and fp.reason == whole.reason and sorted(fp.sizes) == sorted(whole.sizes[:fp.seen])
