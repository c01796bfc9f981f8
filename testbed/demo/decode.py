"""One packet as one line, in Wireshark's packet-list columns (pure): what ``trace on`` prints.

No., Time, Source, Destination, Protocol, Length and Info, as a student sees them in
Wireshark's top pane; Info names the fields the DPI's signatures look at: STUN's message
type and attribute numbers (RFC 5389 / 8489; WhatsApp's 0x4000-0x4007 among them), SIP's
request or status line and Call-ID (RFC 3261), RTP's payload type, sequence number and SSRC
(RFC 3550), TLS's record type and ClientHello server name (RFC 8446), WhatsApp's chat header
("WA" and its version, which Wireshark shows as data), OpenVPN's opcode and
session id (openvpn/src/openvpn/ssl_pkt.h), QUIC's Initial (RFC 9000). The dissectors are the
project's own parsers (``testbed.packets``), tried in Wireshark's manner: well-known ports
first, then heuristics; anything else shows its first bytes in hex.
"""

from __future__ import annotations

import struct

from testbed.packets import quic, rtp, sip, stun, tls
from testbed.packets.ip import TCP, UDP, addr_text, parse_ip

STUN_METHODS = {0x001: "Binding", 0x003: "Allocate", 0x004: "Refresh", 0x006: "Send", 0x007: "Data",
                0x008: "CreatePermission", 0x009: "ChannelBind"}
STUN_CLASSES = ("Request", "Indication", "Success Response", "Error Response")
STUN_ATTRIBUTES = {
    stun.MAPPED_ADDRESS: "MAPPED-ADDRESS", stun.USERNAME: "USERNAME", stun.MESSAGE_INTEGRITY: "MESSAGE-INTEGRITY",
    stun.ERROR_CODE: "ERROR-CODE", stun.CHANNEL_NUMBER: "CHANNEL-NUMBER", stun.LIFETIME: "LIFETIME",
    stun.XOR_PEER_ADDRESS: "XOR-PEER-ADDRESS", stun.DATA: "DATA", stun.REALM: "REALM", stun.NONCE: "NONCE",
    stun.XOR_RELAYED_ADDRESS: "XOR-RELAYED-ADDRESS", stun.REQUESTED_TRANSPORT: "REQUESTED-TRANSPORT",
    stun.XOR_MAPPED_ADDRESS: "XOR-MAPPED-ADDRESS", stun.PRIORITY: "PRIORITY", stun.USE_CANDIDATE: "USE-CANDIDATE",
    stun.SOFTWARE: "SOFTWARE", stun.FINGERPRINT: "FINGERPRINT", stun.ICE_CONTROLLED: "ICE-CONTROLLED",
    stun.ICE_CONTROLLING: "ICE-CONTROLLING", stun.MS_CANDIDATE_IDENTIFIER: "MS-CANDIDATE-IDENTIFIER",
    stun.MS_IMPLEMENTATION_VERSION: "MS-IMPLEMENTATION-VERSION", stun.GOOG_NETWORK_INFO: "GOOG-NETWORK-INFO",
}
OPENVPN_OPCODES = {1: "P_CONTROL_HARD_RESET_CLIENT_V1", 2: "P_CONTROL_HARD_RESET_SERVER_V1",
                   3: "P_CONTROL_SOFT_RESET_V1", 4: "P_CONTROL_V1", 5: "P_ACK_V1", 6: "P_DATA_V1",
                   7: "P_CONTROL_HARD_RESET_CLIENT_V2", 8: "P_CONTROL_HARD_RESET_SERVER_V2", 9: "P_DATA_V2",
                   10: "P_CONTROL_HARD_RESET_CLIENT_V3", 11: "P_CONTROL_WKC_V1"}
OPENVPN_UDP_PORT, OPENVPN_TCP_PORT = 1194, 443   # where Wireshark decodes OpenVPN (and our strategies put it)
TLS_CONTENT = {20: "Change Cipher Spec", 21: "Alert", 22: "Handshake", 23: "Application Data"}
RTP_TYPES = {0: "ITU-T G.711 PCMU", 8: "ITU-T G.711 PCMA", 18: "ITU-T G.729", 111: "dynamic (Opus)"}
RTCP_TYPES = {200: "Sender Report", 201: "Receiver Report", 202: "Source description", 203: "Goodbye",
              204: "Application specific"}
TCP_FLAGS = ((0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"))   # Wireshark's order
HEX_BYTES = 12
HEADER = f"{'No.':>4}  {'Time':>9}  {'Source':<21}  {'Destination':<21}  {'Protocol':<8}  {'Length':>6}  Info"


def line(number: int, t: float, packet: bytes) -> str:
    """The packet-list row of one IP packet (``t``: seconds since the flow's first packet)."""
    d = parse_ip(packet)
    if d is None:
        return f"{number:>4}  {t:9.6f}  {'':<21}  {'':<21}  {'IP':<8}  {len(packet):>6}  not UDP or TCP"
    src, dst = f"{addr_text(d.src)}:{d.sport}", f"{addr_text(d.dst)}:{d.dport}"
    proto, info = dissect(d.proto, d.sport, d.dport, d.payload, d.tcp_flags)
    return f"{number:>4}  {t:9.6f}  {src:<21}  {dst:<21}  {proto:<8}  {len(packet):>6}  {info}"


def dissect(l4: int, sport: int, dport: int, payload: bytes, tcp_flags: int = 0) -> tuple[str, str]:
    """(protocol column, info column) of an L4 payload."""
    tcp = l4 == TCP
    flags = ""
    if tcp:
        flags = "[" + ", ".join(name for bit, name in TCP_FLAGS if tcp_flags & bit) + "]"
        if not payload:
            return "TCP", f"{sport} → {dport} {flags} Len=0"
    for dissector in (_openvpn, _stun, _sip, _tls, _whatsapp, _quic, _rtp):
        found = dissector(payload, sport, dport, tcp)
        if found is not None:
            return found[0], found[1] + (f" {flags}" if tcp else "")
    what = "TCP" if tcp else "UDP" if l4 == UDP else str(l4)
    head = payload[:HEX_BYTES].hex(" ") + (" …" if len(payload) > HEX_BYTES else "")
    return what, f"{sport} → {dport} {flags + ' ' if flags else ''}Len={len(payload)} data: {head}"


def _stun(payload: bytes, sport: int, dport: int, tcp: bool) -> tuple[str, str] | None:
    if stun.is_channel_data(payload):
        channel, length = struct.unpack_from("!HH", payload)
        return "TURN", f"ChannelData channel 0x{channel:04x}, {length} bytes"
    msg = stun.parse(payload)
    if msg is None or not (msg.cookie or 3478 in (sport, dport)):
        return None
    method = STUN_METHODS.get(msg.method)
    kind = f"{method} {STUN_CLASSES[msg.klass]}" if method else f"message type 0x{msg.msg_type:04x} (not in RFC 8489)"
    attrs = ", ".join(_attribute(a) for a, _ in msg.attributes) or "none"
    return "STUN", f"{kind} id={msg.transaction_id[:4].hex()}… attributes: {attrs}"


def _attribute(kind: int) -> str:
    name = STUN_ATTRIBUTES.get(kind)
    if name is None and 0x4000 <= kind <= 0x4007:
        name = "WhatsApp's own"
    return f"0x{kind:04x}" + (f" {name}" if name else "")


def _sip(payload: bytes, sport: int, dport: int, tcp: bool) -> tuple[str, str] | None:
    msg = sip.parse(payload)
    if msg is None:
        return None
    kind = "Request" if msg.method else "Status"
    call_id = msg.headers.get("call-id")
    return "SIP", f"{kind}: {msg.start_line}" + (f", Call-ID: {call_id}" if call_id else "")


def _tls(payload: bytes, sport: int, dport: int, tcp: bool) -> tuple[str, str] | None:
    if not tcp or len(payload) < 5 or payload[0] not in TLS_CONTENT or payload[1] != 3:
        return None
    what = TLS_CONTENT[payload[0]]
    if payload[0] == 22 and len(payload) > 5:
        what = {1: "Client Hello", 2: "Server Hello"}.get(payload[5], what)
    name = tls.server_name(payload)
    return "TLSv1.3" if payload[2] >= 3 else "TLS", what + (f" (SNI={name})" if name else "")


def _whatsapp(payload: bytes, sport: int, dport: int, tcp: bool) -> tuple[str, str] | None:
    # the chat stream's first bytes (FunXMPP): "WA" and the protocol's version; Wireshark shows them as data
    if not tcp or len(payload) < 4 or payload[:2] != b"WA":
        return None
    return "WhatsApp", f"chat stream header 'WA' v{payload[2]}.{payload[3]}, {len(payload)} bytes"


def _openvpn(payload: bytes, sport: int, dport: int, tcp: bool) -> tuple[str, str] | None:
    if (OPENVPN_TCP_PORT if tcp else OPENVPN_UDP_PORT) not in (sport, dport):
        return None
    if tcp:   # each packet preceded by its 16-bit length
        if len(payload) < 3 or struct.unpack_from("!H", payload)[0] + 2 > len(payload):
            return None
        payload = payload[2:]
    if not payload or payload[0] >> 3 not in OPENVPN_OPCODES:
        return None
    opcode = payload[0] >> 3
    info = f"MessageType: {OPENVPN_OPCODES[opcode]}"
    if opcode not in (6, 9) and len(payload) >= 9:
        info += f", Session ID: {payload[1:9].hex()}"
    return "OpenVPN", info


def _quic(payload: bytes, sport: int, dport: int, tcp: bool) -> tuple[str, str] | None:
    if tcp or quic.is_initial(payload) is None:
        return None
    return "QUIC", f"Initial, DCID={payload[6:6 + payload[5]].hex()[:16]}"


def _rtp(payload: bytes, sport: int, dport: int, tcp: bool) -> tuple[str, str] | None:
    if tcp or len(payload) < 8 or payload[0] >> 6 != 2:
        return None
    if 200 <= payload[1] <= 204:
        parts = rtp.rtcp_packets(payload)
        if parts:
            return "RTCP", ", ".join(RTCP_TYPES.get(t, str(t)) for t, _ in parts)
    header = rtp.parse(payload)
    if header is None or not rtp.assigned_payload_type(header.payload_type):
        return None
    pt = RTP_TYPES.get(header.payload_type, str(header.payload_type))
    return "RTP", (f"PT={pt}, SSRC=0x{header.ssrc:08X}, Seq={header.sequence}, Time={header.timestamp}"
                   + (", Mark" if header.marker else ""))
