"""MGCP (RFC 3435): a text command line "VERB transaction-id endpoint MGCP 1.0" (or 0.1)."""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP

VERBS = frozenset({b"EPCF", b"CRCX", b"MDCX", b"DLCX", b"RQNT", b"NTFY", b"AUEP", b"AUCX", b"RSIP"})


class Mgcp(Signature):
    name = "mgcp"
    protos = frozenset({UDP})
    payload_packets = 4

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset(verb[0] for verb in VERBS)

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) < 20 or data[:4] not in VERBS or data[4:5] != b" ":
            return None
        line = data[:200].replace(b"\r", b"\n").split(b"\n", 1)[0].split(b" ")  # CR, LF or CRLF
        if len(line) != 5 or line[3] != b"MGCP" or not line[1].isdigit():
            return None
        return Detection("MGCP", f"MGCP {line[0].decode()} command (transaction {line[1].decode()}) "
                                 f"in packet {pkt.index}")
