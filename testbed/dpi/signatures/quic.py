"""QUIC: the server name from the client's Initial packet, and Snapchat calls multiplexed with it.

The Initial is encrypted with keys derived from the packet itself (RFC 9001 §5.2,
``testbed.packets.quic``): decrypted, its CRYPTO frames hold the TLS ClientHello
and so the SNI, which endpoint knowledge turns into the app (``endpoints/``). Not
final: a flow that then carries RTP or RTCP next to QUIC on the same 5-tuple is a
Snapchat call (nDPI's quic.c knows no other app that multiplexes them).
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import quic, rtp, tls
from testbed.packets.ip import UDP

_LONG = frozenset(range(0xC0, 0x100))
_RTP = frozenset(range(0x80, 0xC0))
_VERSIONS = frozenset({b"\x00\x00\x00\x00", b"\x00\x00\x00\x01", b"\x6b\x33\x43\xcf"})


class Quic(Signature):
    name = "quic"
    protos = frozenset({UDP})
    payload_packets = 12

    def leads(self, proto: int) -> frozenset[int] | None:
        return _LONG | _RTP

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) < 12:
            return None
        seen = flow.state.get("quic")
        if data[0] >= 0xC0:
            return self._initial(pkt, flow, seen) if pkt.direction == 0 else None
        if seen is None or data[1:5] in _VERSIONS:
            return None   # QUIC's own long-header packets (form bit set, even with a greased fixed bit)
        head = rtp.parse(data)
        rtcp = 200 <= data[1] <= 204 and rtp.rtcp_packets(data) is not None
        if head is not None and (rtcp or rtp.assigned_payload_type(head.payload_type)):
            kind = "RTCP" if rtcp else f"RTP (pt {head.payload_type})"
            return Detection("SnapchatCall", f"{kind} multiplexed with QUIC (Initial in packet {seen[0]}) "
                                             f"in packet {pkt.index}")
        return None

    def _initial(self, pkt: Pkt, flow: Flow, seen: tuple[int, dict[int, bytes], bool] | None) -> Detection | None:
        """A client Initial: decrypt it, gather its CRYPTO frames, name the server once the ClientHello is whole."""
        if seen is not None and seen[2]:
            return None          # the ClientHello was read already
        found = quic.decrypt_initial(pkt.payload)
        if found is None:
            return None
        first = seen[0] if seen is not None else pkt.index
        chunks = quic.crypto_chunks(found[1], seen[1] if seen is not None else None)
        hello = quic.contiguous(chunks)
        whole = len(hello) >= 4 and len(hello) >= 4 + int.from_bytes(hello[1:4], "big")
        flow.state["quic"] = (first, chunks, whole)
        version = "v2" if quic.is_initial(pkt.payload) == quic.V2 else "v1"
        name = tls.hello_server_name(hello) if whole else None
        if name is None:
            return Detection("QUIC", f"QUIC {version} Initial in packet {pkt.index}", final=False) \
                if seen is None else None
        flow.sni = name
        return Detection("QUIC", f"QUIC {version} Initial, ClientHello SNI {name} in packet {pkt.index}", final=False)
