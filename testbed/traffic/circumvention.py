"""Circumvention strategies: how users re-wrap their calls to get past the DPI.

Each strategy turns a call's flow plans into what the operator sees instead:
- ``vpn``: one OpenVPN tunnel (UDP 1194) to a VPN server; everything inside is encrypted.
- ``vpn-tcp443``: OpenVPN over TCP port 443, to look like HTTPS.
- ``turn-tcp443``: the media relayed by a standard TURN server (coturn) over TCP 443,
  in ChannelData frames; no app attributes in the STUN exchange.
- ``port-hopping``: the app's own payloads on random high ports.
- ``obfuscation``: the app's packets fully encrypted and padded: no header or attribute
  left to match; only size and timing remain.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from testbed.packets import stun, vpn
from testbed.traffic.apps import MEDIA, FlowPlan, Segment


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    via: str | None            # the server profile the traffic goes through ("vpn", "turn")
    over_tcp: bool             # losses become retransmission delay
    overhead_bytes: int        # added to every media packet
    transform: Callable[[tuple[FlowPlan, ...], random.Random], tuple[FlowPlan, ...]]


def _merged(plans: tuple[FlowPlan, ...]) -> list[Segment]:
    return sorted((s for p in plans for s in p.segments), key=lambda s: s.t)


def _openvpn(tcp: bool) -> Callable[[tuple[FlowPlan, ...], random.Random], tuple[FlowPlan, ...]]:
    def transform(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
        client_sid, server_sid = rng.randbytes(8), rng.randbytes(8)
        hello = [Segment(0.0, True, vpn.openvpn_control(vpn.OPENVPN_HARD_RESET_CLIENT_V2, client_sid, 0, tcp=tcp)),
                 Segment(0.05, False, vpn.openvpn_control(vpn.OPENVPN_HARD_RESET_SERVER_V2, server_sid, 0,
                                                          tcp=tcp, acks=(0,), remote_session=client_sid)),
                 Segment(0.06, True, vpn.openvpn_control(vpn.OPENVPN_CONTROL_V1, client_sid, 1,
                                                         b"\x16\x03\x01" + rng.randbytes(280), tcp=tcp)),
                 Segment(0.12, False, vpn.openvpn_control(vpn.OPENVPN_CONTROL_V1, server_sid, 1,
                                                          b"\x16\x03\x03" + rng.randbytes(1100), tcp=tcp))]
        # the inner IP/UDP headers (28 B) travel encrypted, plus a 16 B tag and 4 B packet id
        data = [Segment(0.2 + s.t, s.up, vpn.openvpn_data(1, rng.randbytes(len(s.payload) + 48), tcp=tcp))
                for s in _merged(plans)]
        kbps = sum(p.kbps for p in plans)
        return (FlowPlan(MEDIA, "tcp" if tcp else "udp", 443 if tcp else 1194, tuple(hello + data), kbps),)
    return transform


def _turn_tcp(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    txid1, txid2, txid3 = rng.randbytes(12), rng.randbytes(12), rng.randbytes(12)
    transport = [(stun.REQUESTED_TRANSPORT, b"\x11\x00\x00\x00")]
    auth = [(stun.USERNAME, b"testbed-user"), (stun.REALM, b"turn.example.org"),
            (stun.NONCE, rng.randbytes(16).hex().encode()), (stun.MESSAGE_INTEGRITY, rng.randbytes(20))]
    opening = [
        Segment(0.0, True, stun.build(stun.ALLOCATE_REQUEST, txid1, transport, fingerprint=True)),
        Segment(0.05, False, stun.build(0x0113, txid1, [(stun.ERROR_CODE, b"\x00\x00\x04\x01Unauthorized"),
                                                        (stun.REALM, b"turn.example.org"),
                                                        (stun.NONCE, rng.randbytes(16).hex().encode())])),
        Segment(0.06, True, stun.build(stun.ALLOCATE_REQUEST, txid2, transport + auth, fingerprint=True)),
        Segment(0.11, False, stun.build(stun.ALLOCATE_RESPONSE, txid2, [
            (stun.XOR_RELAYED_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(49152, 65535))),
            (stun.LIFETIME, struct.pack("!I", 600)), (stun.MESSAGE_INTEGRITY, rng.randbytes(20))])),
        Segment(0.12, True, stun.build(stun.CHANNEL_BIND, txid3, [
            (stun.CHANNEL_NUMBER, b"\x40\x00\x00\x00"),
            (stun.XOR_PEER_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(1024, 65535)))] + auth)),
        Segment(0.17, False, stun.build(0x0109, txid3, [(stun.MESSAGE_INTEGRITY, rng.randbytes(20))])),
    ]
    media = [Segment(0.2 + s.t, s.up, stun.channel_data(0x4000, s.payload))
             for p in plans if p.role == MEDIA for s in p.segments]
    return (FlowPlan(MEDIA, "tcp", 443, tuple(opening + media), sum(p.kbps for p in plans if p.role == MEDIA)),)


def _port_hopping(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    return tuple(FlowPlan(p.role, p.l4, rng.randint(20000, 65000), p.segments, p.kbps) for p in plans)


def _obfuscation(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    return tuple(FlowPlan(p.role, p.l4, p.server_port,
                          tuple(Segment(s.t, s.up, rng.randbytes(len(s.payload) + rng.randint(0, 16)))
                                for s in p.segments), p.kbps + 3) for p in plans)


def _none(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    return plans


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("none", "the app as it is", None, False, 0, _none),
    Strategy("vpn", "OpenVPN over UDP 1194", "vpn", False, 48 + 28, _openvpn(tcp=False)),
    Strategy("vpn-tcp443", "OpenVPN over TCP 443", "vpn", True, 50 + 40, _openvpn(tcp=True)),
    Strategy("turn-tcp443", "TURN (coturn) over TCP 443, ChannelData", "turn", True, 4 + 40, _turn_tcp),
    Strategy("port-hopping", "the app on random high ports", None, False, 0, _port_hopping),
    Strategy("obfuscation", "encrypted, padded packets: no header left to match", None, False, 8, _obfuscation),
)}
