"""The smallest regression topology: subscribers — DPI switch — switch — one server."""

from __future__ import annotations

from typing import Any

from testbed.topo import Topo

ALL_PROFILES = ("whatsapp", "whatsapp_chat", "viber", "skype", "imo", "sip", "web", "game", "vpn", "turn",
                "telegram", "messenger", "zoom", "teams", "facetime", "webrtc", "botim")


class Dumbbell(Topo):
    """Options:
        subscribers: hosts on the left.
        bw: Mbit/s of the middle link; delay_ms, jitter_ms, loss_pct of it too.
        relay_capacity: concurrent calls the server carries (0: unlimited).
    """

    def build(self, subscribers: int = 2, bw: float = 100, delay_ms: float = 10,  # type: ignore[override]
              jitter_ms: float = 0, loss_pct: float = 0, relay_capacity: int = 0, **_: Any) -> None:
        left = self.addSwitch("tbdpi1", role="dpi", operator="op", dpid="%016x" % 0x12)
        right = self.addSwitch("tbnet0", role="internet", dpid="%016x" % 0xF0)
        self.addLink(left, right, bw=bw, delay=f"{delay_ms}ms", jitter=f"{jitter_ms}ms", loss=loss_pct)
        server = self.addHost("tbsrv", ip="192.0.2.10/24", role="server", serves=ALL_PROFILES,
                              capacity=relay_capacity)
        self.addLink(server, right, bw=1000)
        for i in range(1, subscribers + 1):
            host = self.addHost(f"tb1s{i}", ip=f"10.10.0.{i + 1}/16", role="subscriber", operator="op")
            self.addLink(host, left, bw=1000)
