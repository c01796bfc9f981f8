"""Policy → OpenFlow 1.3 messages for the DPI switch, built with ``datapath=None``.

Pure (FAUCET's valve_of idea): functions return messages; only the os-ken app
sends them, after setting ``msg.datapath``. The switch pipeline, one table:

=========  =======================================================  ==============
priority   match                                                    actions
=========  =======================================================  ==============
30000 - i  rule i of the *proactive prefix* (see ``compile_policy``)  its action
20000      one direction of a flow the classifier decided            its action
100        IPv4 TCP / UDP not decided yet                             inspect
0          anything else (ARP, ICMP, ...): not inspected              NORMAL
=========  =======================================================  ==============

*Inspect* is CONTROLLER for an ``inline`` DPI (the app forwards each undecided
packet itself: nothing passes that the classifier has not seen) and NORMAL plus a
copy to the CONTROLLER for a ``tap`` (packets pass while the classifier looks at
their copies: the first packets of a blocked flow leak). Forwarding is OVS's
NORMAL (MAC learning), so a DPI switch can sit anywhere in a topology.

An L3/L4 rule is direction-free in OpenFlow: a rule on ``dst``/``dst_ports`` also
gets the mirrored entry (``src``/``src_ports``) so the flow's replies get the same
action, where the classifier knows the initiator.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from testbed.dpi.classifier import Verdict, header_matches
from testbed.dpi.flow import FlowKey
from testbed.packets import ip
from testbed.policy.model import ALLOW, DEGRADE, DROP, RESET, TAP, THROTTLE, Action, Match, Policy, Rule

PRIO_PROACTIVE = 30000
PRIO_VERDICT = 20000
PRIO_INSPECT = 100
PRIO_MISS = 0
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
PROTOS = {"udp": ip.UDP, "tcp": ip.TCP}
PROACTIVE_KINDS = (ALLOW, DROP, DEGRADE)   # stateless: the same entry serves every flow
DSCP_BASE = 40                             # degrade marks: CS5 and up, unused by our traffic
BURST_KBIT_MIN = 8


@dataclass(frozen=True)
class Compiled:
    """A policy split into what the switch matches and what the classifier decides."""

    policy: Policy
    proactive: tuple[Rule, ...]     # the prefix of rules installed as flow entries
    dpi: tuple[Rule, ...]           # the rest: the classifier decides them on packet-ins
    marks: dict[Action, int]        # degrade action → the DSCP the shaper recognises

    @property
    def tap(self) -> bool:
        return self.policy.deployment == TAP


def degrade_marks(policies: list[Policy]) -> dict[Action, int]:
    """A DSCP for each distinct degrade action of these policies (shared by switches and hosts)."""
    degrades = [r.action for p in policies for r in p.rules if r.action.kind == DEGRADE]
    marks = {a: DSCP_BASE + i for i, a in enumerate(dict.fromkeys(degrades))}
    if len(marks) > 64 - DSCP_BASE:
        raise ValueError(f"more than {64 - DSCP_BASE} distinct degrade actions")
    return marks


def compile_policy(policy: Policy, marks: dict[Action, int] | None = None) -> Compiled:
    """Split the rules. The proactive prefix ends at the first rule that needs the
    payload or per-flow state (throttle's meter, reset's packets): rules after it
    can only apply to flows that rule does not take, which only the classifier knows.
    ``marks``: the DSCP of each degrade action when several policies share the hosts."""
    prefix: list[Rule] = []
    for rule in policy.rules:
        if rule.match.needs_payload or rule.action.kind not in PROACTIVE_KINDS:
            break
        prefix.append(rule)
    marks = degrade_marks([policy]) if marks is None else marks
    return Compiled(policy, tuple(prefix), tuple(policy.rules[len(prefix):]), marks)


@dataclass(frozen=True)
class _Header:
    """A flow's 5-tuple as ``header_matches`` reads it."""

    proto: int
    client: bytes
    cport: int
    server: bytes
    sport: int


def proactive_rule(compiled: Compiled, key: FlowKey) -> Rule | None:
    """The rule whose flow entries (``setup_messages``) take the flow with this key, or None when
    its packets meet the inspect entries: the first rule of the proactive prefix whose match holds
    for the flow in either direction, since each entry has its mirror (see ``header_fields``)."""
    proto, client, cport, server, sport = key
    both = (_Header(proto, client, cport, server, sport), _Header(proto, server, sport, client, cport))
    for rule in compiled.proactive:
        if any(header_matches(rule.match, h) for h in both):  # type: ignore[arg-type]
            return rule
    return None


def port_masks(lo: int, hi: int) -> list[tuple[int, int]]:
    """A port range as (value, mask) pairs: OpenFlow matches bit prefixes, not ranges."""
    out = []
    while lo <= hi:
        size = lo & -lo if lo else 1 << 16
        while size > hi - lo + 1:
            size >>= 1
        out.append((lo, 0xFFFF & ~(size - 1)))
        lo += size
    return out


def _net(net: Any) -> tuple[int, tuple[str, str]]:
    eth = ETH_IPV4 if net.version == 4 else ETH_IPV6
    return eth, (str(net.network_address), str(net.netmask))


def _l4_field(l4: str, side: str) -> str:
    return f"{l4}_{side}"


def header_fields(m: Match) -> list[dict[str, Any]]:
    """OXM field sets (OR of them) for the L3/L4 part of a match, both directions."""
    def nets(values: tuple) -> list[tuple[int, tuple[str, str]] | None]:
        return [_net(n) for n in values] or [None]

    def ports(ranges: tuple) -> list[tuple[int, int] | None]:
        return [pm for lo, hi in ranges for pm in port_masks(lo, hi)] or [None]

    out: list[dict[str, Any]] = []
    # "either side" fields: an entry with the value as source, and one with it as destination
    host_sides = [(h, side) for h in nets(m.hosts) for side in (("src", "dst") if m.hosts else ("src",))]
    port_sides = [(p, side) for p in ports(m.ports) for side in (("src", "dst") if m.ports else ("src",))]
    for (src, dst, sp, dp, (host, hside), (port, pside)) in product(
            nets(m.src), nets(m.dst), ports(m.src_ports), ports(m.dst_ports), host_sides, port_sides):
        for flip in (False, True) if (m.src or m.dst or m.src_ports or m.dst_ports) else (False,):
            a, b, pa, pb = (dst, src, dp, sp) if flip else (src, dst, sp, dp)
            fields: dict[str, Any] = {}
            families = {x[0] for x in (a, b, host) if x is not None}
            if len(families) > 1:
                continue  # an IPv4 source with an IPv6 destination matches nothing
            fields["eth_type"] = families.pop() if families else ETH_IPV4
            v = "ipv4" if fields["eth_type"] == ETH_IPV4 else "ipv6"
            for value, name in ((a, f"{v}_src"), (b, f"{v}_dst"), (host, f"{v}_{hside}")):
                if value is not None:
                    fields[name] = value[1]
            if m.l4 is not None:
                fields["ip_proto"] = PROTOS[m.l4]
                for pm, side in ((pa, "src"), (pb, "dst"), (port, pside)):
                    if pm is not None and pm[1] != 0:  # mask 0: any port
                        fields[_l4_field(m.l4, side)] = pm if pm[1] != 0xFFFF else pm[0]
            if fields not in out:
                out.append(fields)
    return out


def _apply(actions: list[Any]) -> list[Any]:
    return [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)] if actions else []


def _normal() -> Any:
    return parser.OFPActionOutput(ofp.OFPP_NORMAL)


def _to_controller() -> Any:
    return parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)


def flow_mod(match: dict[str, Any], priority: int, instructions: list[Any], *,
             idle_timeout: int = 0, flags: int = 0, cookie: int = 0) -> Any:
    return parser.OFPFlowMod(None, cookie=cookie, priority=priority, match=parser.OFPMatch(**match),
                             instructions=instructions, idle_timeout=idle_timeout, flags=flags)


def action_instructions(compiled: Compiled, action: Action, meter_id: int | None = None) -> list[Any]:
    """The instructions of an entry carrying a rule's action (reset: drop; its packets go separately)."""
    if action.kind == ALLOW:
        return _apply([_normal()])
    if action.kind in (DROP, RESET):
        return []
    if action.kind == DEGRADE:
        return _apply([parser.OFPActionSetField(ip_dscp=compiled.marks[action]), _normal()])
    if action.kind == THROTTLE:
        assert meter_id is not None
        return [parser.OFPInstructionMeter(meter_id, ofp.OFPIT_METER)] + _apply([_normal()])
    raise ValueError(f"unknown action {action.kind}")


GENERATION_SHIFT = 32                        # a pipeline entry's cookie: generation << 32 | rule index
GENERATION_MASK = 0xFFFF_FFFF << GENERATION_SHIFT   # also covers bit 63, which only verdict entries set


def _pipeline(compiled: Compiled, generation: int) -> list[Any]:
    """The policy's own entries (everything but the verdicts'), their cookies carrying ``generation``."""
    base = generation << GENERATION_SHIFT
    msgs = [flow_mod({}, PRIO_MISS, _apply([_normal()]), cookie=base)]
    # the copy first: with NORMAL first OVS's userspace datapath drops packets whose packet-in fails
    inspect = [_to_controller(), _normal()] if compiled.tap else [_to_controller()]
    for proto in (ip.TCP, ip.UDP):
        msgs.append(flow_mod({"eth_type": ETH_IPV4, "ip_proto": proto}, PRIO_INSPECT, _apply(inspect), cookie=base))
    for rule in compiled.proactive:
        for fields in header_fields(rule.match):
            msgs.append(flow_mod(fields, PRIO_PROACTIVE - rule.index,
                                 action_instructions(compiled, rule.action), cookie=base | rule.index))
    return msgs


def setup_messages(compiled: Compiled) -> list[Any]:
    """What the app sends when the switch connects: a clean table, then the pipeline (generation 0)."""
    msgs: list[Any] = [
        parser.OFPFlowMod(None, command=ofp.OFPFC_DELETE, table_id=ofp.OFPTT_ALL,
                          out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch()),
        parser.OFPMeterMod(None, command=ofp.OFPMC_DELETE, meter_id=ofp.OFPM_ALL),
    ]
    return msgs + _pipeline(compiled, 0) + [parser.OFPBarrierRequest(None)]


def reload_messages(compiled: Compiled, generation: int) -> list[Any]:
    """Another policy on a running switch, with no gap: the new pipeline's entries go in first
    (an entry with the same match and priority as an old one replaces it, cookie and all), then
    what is left of the previous generation is deleted. The verdicts' entries stay: flows already
    decided keep their fate until they expire, as on a switch whose rules were swapped."""
    old = (generation - 1) << GENERATION_SHIFT
    return _pipeline(compiled, generation) + [
        parser.OFPFlowMod(None, command=ofp.OFPFC_DELETE, table_id=ofp.OFPTT_ALL, out_port=ofp.OFPP_ANY,
                          out_group=ofp.OFPG_ANY, cookie=old, cookie_mask=GENERATION_MASK, match=parser.OFPMatch()),
        parser.OFPBarrierRequest(None)]


class MeterPool:
    """Meter ids for throttled flows: one per direction, freed when the entry expires."""

    def __init__(self, first: int = 1, last: int = 65535) -> None:
        self._free = list(range(last, first - 1, -1))
        self.by_cookie: dict[int, int] = {}

    def take(self, cookie: int) -> int:
        if not self._free:
            raise RuntimeError("out of meters: too many throttled flows at once")
        meter = self._free.pop()
        self.by_cookie[cookie] = meter
        return meter

    def give_back(self, cookie: int) -> int | None:
        meter = self.by_cookie.pop(cookie, None)
        if meter is not None:
            self._free.append(meter)
        return meter


def key_fields(key: tuple[int, bytes, int, bytes, int], reverse: bool = False) -> dict[str, Any]:
    """The exact match of one direction of a classifier flow key."""
    proto, client, cport, server, sport = key
    src, sp, dst, dp = (server, sport, client, cport) if reverse else (client, cport, server, sport)
    v = "ipv4" if len(src) == 4 else "ipv6"
    l4 = "udp" if proto == ip.UDP else "tcp"
    return {"eth_type": ETH_IPV4 if v == "ipv4" else ETH_IPV6, "ip_proto": proto,
            f"{v}_src": ip.addr_text(src), f"{v}_dst": ip.addr_text(dst),
            f"{l4}_src": sp, f"{l4}_dst": dp}


def _cookie(serial: int, reverse: bool) -> int:
    return (1 << 63) | (serial << 1) | int(reverse)


def verdict_messages(compiled: Compiled, verdict: Verdict, serial: int, meters: MeterPool,
                     frame: bytes = b"", in_port: int = 0) -> list[Any]:
    """Flow entries (both directions) carrying a verdict; ``serial`` numbers the verdict. A
    reset also sends its packets, built from the packet that decided it (``frame``)."""
    assert verdict.key is not None
    action, msgs = verdict.action, []
    idle = max(1, int(round(compiled.policy.idle_timeout_s)))
    for reverse in (False, True):
        cookie, meter, flags = _cookie(serial, reverse), None, 0
        if action.kind == THROTTLE:
            meter = meters.take(cookie)
            burst = max(BURST_KBIT_MIN, int(action.kbps / 10))  # 100 ms of the rate
            msgs.append(parser.OFPMeterMod(None, command=ofp.OFPMC_ADD,
                                           flags=ofp.OFPMF_KBPS | ofp.OFPMF_BURST, meter_id=meter,
                                           bands=[parser.OFPMeterBandDrop(rate=int(action.kbps),
                                                                          burst_size=burst)]))
            flags = ofp.OFPFF_SEND_FLOW_REM
        msgs.append(flow_mod(key_fields(verdict.key, reverse), PRIO_VERDICT,
                             action_instructions(compiled, action, meter), idle_timeout=idle,
                             flags=flags, cookie=cookie))
    if action.kind == RESET and frame:
        msgs += reset_packets(frame, in_port)
    msgs.append(parser.OFPBarrierRequest(None))
    return msgs


def meter_delete(meter_id: int) -> Any:
    return parser.OFPMeterMod(None, command=ofp.OFPMC_DELETE, meter_id=meter_id)


def packet_out(frame: bytes, in_port: int, port: int = ofp.OFPP_NORMAL) -> Any:
    """Send a frame on as if it had come in on ``in_port`` (NORMAL forwarding by default)."""
    return parser.OFPPacketOut(None, buffer_id=ofp.OFP_NO_BUFFER, in_port=in_port,
                               actions=[parser.OFPActionOutput(port)], data=frame)


def forward(compiled: Compiled, verdict: Verdict | None, frame: bytes, in_port: int) -> list[Any]:
    """What to do with the packet-in itself. A tap already forwarded it; inline forwards it
    while undecided or allowed, and holds it back from a drop or a reset."""
    if compiled.tap:
        return []
    if verdict is None or verdict.action.kind in (ALLOW, THROTTLE, DEGRADE):
        if verdict is not None and verdict.action.kind == DEGRADE:
            frame = _with_dscp(frame, compiled.marks[verdict.action])
        return [packet_out(frame, in_port)]
    return []


def _with_dscp(frame: bytes, dscp: int) -> bytes:
    """The frame with its IPv4 DSCP set (checksum fixed), as the flow entry would set it."""
    if len(frame) < 34 or struct.unpack_from("!H", frame, 12)[0] != ETH_IPV4:
        return frame
    header = bytearray(frame[14:14 + (frame[14] & 0x0F) * 4])
    header[1] = (dscp << 2) | (header[1] & 0x03)
    header[10:12] = b"\0\0"
    header[10:12] = struct.pack("!H", ip.checksum(bytes(header)))
    return frame[:14] + bytes(header) + frame[14 + len(header):]


def reset_packets(frame: bytes, in_port: int) -> list[Any]:
    """Packet-outs ending the flow of ``frame``: TCP RST both ways, or for UDP an ICMP port
    unreachable to the sender, as a middlebox that resets connections does."""
    d = ip.parse_ip(frame[14:])
    if d is None or len(d.src) != 4:
        return []
    eth_dst, eth_src = frame[0:6], frame[6:12]
    src, dst = ip.addr_text(d.src), ip.addr_text(d.dst)
    to_sender = eth_src + eth_dst + b"\x08\x00"   # from the receiver's MAC back to the sender
    to_receiver = eth_dst + eth_src + b"\x08\x00"
    if d.proto == ip.TCP:
        seq, ack = struct.unpack_from("!II", frame, 14 + (frame[14] & 0x0F) * 4 + 4)
        nxt = seq + len(d.payload) + (1 if d.tcp_flags & (ip.TCP_SYN | ip.TCP_FIN) else 0)
        back = ip.tcp(dst, src, d.dport, d.sport, seq=ack, ack=nxt, flags=ip.TCP_RST | ip.TCP_ACK, window=0)
        on = ip.tcp(src, dst, d.sport, d.dport, seq=nxt, flags=ip.TCP_RST, window=0)
        return [packet_out(to_sender + back, ofp.OFPP_CONTROLLER, in_port),
                packet_out(to_receiver + on, in_port)]
    quoted = frame[14:14 + (frame[14] & 0x0F) * 4 + 8]    # the IP header and 8 bytes, RFC 792
    body = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
    icmp = body[:2] + struct.pack("!H", ip.checksum(body)) + body[4:]
    return [packet_out(to_sender + ip.ip(d.dst, d.src, 1, icmp), ofp.OFPP_CONTROLLER, in_port)]


def describe(compiled: Compiled) -> Iterator[str]:
    """One line per rule: where it is decided (for logs and ``--verbose``)."""
    for rule in compiled.policy.rules:
        where = "flow entries" if rule in compiled.proactive else "classifier"
        yield f"{rule.label(compiled.policy.name)}: {rule.action} ({where})"

