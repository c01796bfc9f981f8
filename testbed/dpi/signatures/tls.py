"""TLS ClientHello: the server name (SNI) for domain rules and endpoint knowledge.

Which app a name belongs to is data (``endpoints/*.yaml``, ``sni``): the classifier
turns "TLS" into the app when the name is listed (``association.py``).
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import tls
from testbed.packets.ip import TCP


class Tls(Signature):
    name = "tls"
    protos = frozenset({TCP})
    payload_packets = 3

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({0x16})  # handshake record

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        if pkt.direction != 0 or pkt.payload[:1] != b"\x16":
            return None
        name = tls.server_name(pkt.payload)
        if name is None:
            return None
        flow.sni = name
        return Detection("TLS", f"TLS ClientHello SNI {name} in packet {pkt.index}")
