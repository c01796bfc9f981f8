"""Voice codecs: frame timing and size on the wire, and E-model impairments.

Ie (equipment impairment) and Bpl (packet-loss robustness) are ITU-T G.113
Appendix I values where G.113 lists the codec. Opus and SILK are not in G.113;
we treat them like G.711 with PLC on the narrowband E-model scale (Ie 0, Bpl 25.1)
— an assumption, stated in the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.packets import rtp

IP_UDP_RTP = 20 + 8 + 12  # header bytes per voice packet on IPv4


@dataclass(frozen=True)
class Codec:
    name: str
    payload_type: int
    frame_ms: float        # packetisation interval
    payload_bytes: int     # voice bytes per packet
    clock_hz: int
    ie: float
    bpl: float
    in_g113: bool = True

    @property
    def packets_per_s(self) -> float:
        return 1000.0 / self.frame_ms

    @property
    def ip_kbps(self) -> float:
        """Bit rate on the wire (IPv4/UDP/RTP headers included)."""
        return (self.payload_bytes + IP_UDP_RTP) * 8 * self.packets_per_s / 1000

    @property
    def timestamp_step(self) -> int:
        return int(self.clock_hz * self.frame_ms / 1000)


G711 = Codec("G.711", rtp.PT_PCMU, 20, 160, 8000, ie=0, bpl=25.1)          # with PLC (G.113 App. I)
G711_NO_PLC = Codec("G.711 (no PLC)", rtp.PT_PCMU, 20, 160, 8000, ie=0, bpl=4.3)
G729 = Codec("G.729A", rtp.PT_G729, 20, 20, 8000, ie=11, bpl=19.0)
OPUS = Codec("Opus", rtp.PT_OPUS, 20, 80, 48000, ie=0, bpl=25.1, in_g113=False)
SILK = Codec("SILK", 96, 20, 70, 16000, ie=0, bpl=25.1, in_g113=False)

CODECS = {c.name: c for c in (G711, G711_NO_PLC, G729, OPUS, SILK)}
