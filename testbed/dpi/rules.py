"""The rules' side of a decision: does a flow match a rule's L3/L4 part, its payload part, and how to say so.

Pure functions of a ``Match`` and a ``Flow``; the classifier calls them.
"""

from __future__ import annotations

from testbed.dpi.catalog import category_of
from testbed.dpi.flow import Flow
from testbed.packets.ip import TCP, UDP, addr_text
from testbed.policy.model import OPENVPN_FINGERPRINT, Action, Match


def _in_ports(port: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= port <= hi for lo, hi in ranges)


_COMPILED: dict[int, tuple[tuple, tuple[tuple[int, int, int], ...]]] = {}


def _compiled(nets: tuple) -> tuple[tuple[int, int, int], ...]:
    """(address length, network, mask) as integers: matching costs no ipaddress objects.

    Cached by the tuple's identity (a policy's tuples live as long as the policy;
    hashing ipaddress networks on every new flow cost more than the match).
    """
    entry = _COMPILED.get(id(nets))
    if entry is None or entry[0] is not nets:
        entry = (nets, tuple((4 if net.version == 4 else 16, int(net.network_address), int(net.netmask))
                             for net in nets))
        _COMPILED[id(nets)] = entry
    return entry[1]


def _in_nets(raw: bytes, nets: tuple) -> bool:
    value = int.from_bytes(raw, "big")
    size = len(raw)
    return any(size == length and value & mask == network for length, network, mask in _compiled(nets))


def header_matches(m: Match, flow: Flow) -> bool:
    """The L3/L4 part of a match (what OpenFlow could match too)."""
    if m.l4 is not None and (m.l4 == "udp") != (flow.proto == UDP):
        return False
    if m.l4 is not None and flow.proto not in (UDP, TCP):
        return False
    if m.src and not _in_nets(flow.client, m.src):
        return False
    if m.dst and not _in_nets(flow.server, m.dst):
        return False
    if m.hosts and not (_in_nets(flow.client, m.hosts) or _in_nets(flow.server, m.hosts)):
        return False
    if m.src_ports and not _in_ports(flow.cport, m.src_ports):
        return False
    if m.dst_ports and not _in_ports(flow.sport, m.dst_ports):
        return False
    if m.ports and not (_in_ports(flow.cport, m.ports) or _in_ports(flow.sport, m.ports)):
        return False
    return True


def has_header_part(m: Match) -> bool:
    """Whether a match says anything about L3/L4 (else every flow passes ``header_matches``)."""
    return bool(m.l4 or m.src or m.dst or m.hosts or m.src_ports or m.dst_ports or m.ports)


def payload_status(m: Match, flow: Flow, done: bool, media_done: bool | None = None) -> bool | None:
    """Does the payload part hold: True, False, or None (not known yet)?

    ``done``: the signatures' window is over; ``media_done``: the behavioural
    detector's (longer) horizon too — it needs packets from both ways (default: ``done``).
    """
    if m.apps and not any(app in m.apps for app in flow.labels):
        if done or flow.app_final:
            return False
        return None
    if m.categories and not any(category_of(app) in m.categories for app in flow.labels):
        if done or flow.app_final:
            return False
        return None
    if m.behaviour == OPENVPN_FINGERPRINT:
        fp = flow.fingerprint
        if fp is None or not fp.detected:
            if done or (fp is not None and fp.ruled_out):
                return False
            return None
    elif m.behaviour is not None and not (flow.media is not None and flow.media.detected):
        if (done if media_done is None else media_done) or flow.proto != UDP \
                or (flow.media is not None and flow.media.ruled_out):
            return False
        return None
    if m.sni and not (flow.sni and any(flow.sni == s or flow.sni.endswith("." + s) for s in m.sni)):
        if done or flow.app_final or flow.payload_packets > 2:
            return False
        return None
    return True


def describe_header(m: Match, flow: Flow) -> str:
    """What an L3/L4 match saw, for a reason: "UDP 10.0.0.1:5000 → 10.9.0.1:3478"."""
    l4 = "UDP" if flow.proto == UDP else "TCP"
    return f"{l4} {addr_text(flow.client)}:{flow.cport} → {addr_text(flow.server)}:{flow.sport}"


_VERBS = {"drop": "drops it", "reset": "resets it", "allow": "allows it"}


def action_text(action: Action) -> str:
    if action.kind == "throttle":
        return f"throttles it to {action.kbps:g} kbps"
    if action.kind == "degrade":
        return (f"degrades it (loss {action.loss_pct:g}%, jitter {action.jitter_ms:g} ms"
                f"{f', delay {action.delay_ms:g} ms' if action.delay_ms else ''})")
    return _VERBS[action.kind]
