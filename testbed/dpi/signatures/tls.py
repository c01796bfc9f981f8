"""TLS ClientHello: the server name (SNI) for domain rules; some names give the app."""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import tls
from testbed.packets.ip import TCP

# Server names that give the app away (the apps' own domains)
APP_DOMAINS = {
    "whatsapp.net": "WhatsApp", "whatsapp.com": "WhatsApp",
    "viber.com": "ViberChat",
    "telegram.org": "Telegram", "telegram.me": "Telegram", "t.me": "Telegram",
    "signal.org": "Signal",
    "fuze.com": "Fuze",
}


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
        for domain, app in APP_DOMAINS.items():
            if name == domain or name.endswith("." + domain):
                return Detection(app, f"TLS SNI {name} in packet {pkt.index}")
        return Detection("TLS", f"TLS ClientHello SNI {name} in packet {pkt.index}")
