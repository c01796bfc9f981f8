"""The policy model: ordered rules of match + action; first match wins, default allow."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW, DROP, THROTTLE, DEGRADE, RESET = "allow", "drop", "throttle", "degrade", "reset"
ACTIONS = (ALLOW, DROP, THROTTLE, DEGRADE, RESET)
HITS = (DROP, THROTTLE, DEGRADE, RESET)  # the actions that count as "hit"

INLINE, TAP = "inline", "tap"
SECURE, STANDALONE = "secure", "standalone"
RTP_LIKE = "rtp-like"
OPENVPN_FINGERPRINT = "openvpn-fingerprint"   # testbed/dpi/fingerprint.py
BEHAVIOURS = (RTP_LIKE, OPENVPN_FINGERPRINT)


@dataclass(frozen=True)
class Action:
    kind: str = ALLOW
    kbps: float = 0.0          # throttle
    loss_pct: float = 0.0      # degrade
    jitter_ms: float = 0.0     # degrade
    delay_ms: float = 0.0      # degrade

    def __str__(self) -> str:
        if self.kind == THROTTLE:
            return f"throttle {self.kbps:g} kbps"
        if self.kind == DEGRADE:
            return f"degrade loss {self.loss_pct:g}% jitter {self.jitter_ms:g} ms"
        return self.kind

    @property
    def hits(self) -> bool:
        return self.kind in HITS

    @property
    def added_delay_ms(self) -> float:
        """The mean delay a degrade adds: its delay, or one jitter when it gives none (delays
        varying by ``jitter_ms`` around zero would be negative half the time). Both modes use it."""
        return self.delay_ms or self.jitter_ms


@dataclass(frozen=True)
class Match:
    """All given fields must hold (AND); a list inside a field is any-of (OR).

    ``src``/``dst`` and ``src_ports``/``dst_ports`` are as seen from the flow's
    initiator (the first packet); ``ports``/``hosts`` match either side.
    """

    l4: str | None = None                       # "udp" | "tcp"
    src: tuple[IPNet, ...] = ()
    dst: tuple[IPNet, ...] = ()
    hosts: tuple[IPNet, ...] = ()
    src_ports: tuple[tuple[int, int], ...] = ()
    dst_ports: tuple[tuple[int, int], ...] = ()
    ports: tuple[tuple[int, int], ...] = ()
    apps: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    behaviour: str | None = None
    sni: tuple[str, ...] = ()                   # domain suffixes of a TLS ClientHello

    @property
    def needs_payload(self) -> bool:
        """True when OpenFlow cannot decide it: the DPI must look at packets."""
        return bool(self.apps or self.categories or self.behaviour or self.sni)


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    action: Action
    index: int = 0  # 1-based position in the policy, for "rule anrt-2016/3"

    def label(self, policy: str) -> str:
        return f"{policy}/{self.index}" if self.name == str(self.index) else f"{policy}/{self.name}"


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...] = ()
    description: str = ""
    deployment: str = INLINE
    fail_mode: str = SECURE
    inspect_packets: int = 12
    idle_timeout_s: float = 30.0
    source: str = field(default="", compare=False)
    fingerprint_packets: int = 12   # N, the packets with payload the VPN fingerprint judges

    @property
    def needs_dpi(self) -> bool:
        return any(rule.match.needs_payload for rule in self.rules)


NO_POLICY = Policy(name="none", description="no policy: everything passes")
