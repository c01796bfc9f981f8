"""A flow table that applies OpenFlow 1.3 FlowMods and looks packets up, without a switch.

FAUCET's ``fakeoftable`` idea: the compiler's output is checked by asking what the
table does to a packet (``is_output``, ``is_dropped``, ``to_controller``). A test
fake: nothing under ``testbed/`` imports it (the emulation measures on the switch).
A packet is a dict of OXM fields: ``{"eth_type": 0x800, "ip_proto": 17,
"ipv4_src": "10.10.0.2", "udp_dst": 3478, ...}``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from os_ken.ofproto import ofproto_v1_3 as ofp

_IP_FIELDS = ("ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst")


def _int(value: Any) -> int:
    if isinstance(value, str):
        return int(ipaddress.ip_address(value))
    return int(value)


def field_matches(name: str, want: Any, have: Any) -> bool:
    """One OXM field: exact, or (value, mask) bitwise."""
    if have is None:
        return False
    if isinstance(want, tuple):
        value, mask = want
        return (_int(have) & _int(mask)) == (_int(value) & _int(mask))
    return _int(have) == _int(want) if name in _IP_FIELDS else have == want


@dataclass
class Entry:
    priority: int
    match: dict[str, Any]
    instructions: list[Any]
    cookie: int = 0
    idle_timeout: int = 0
    packets: int = 0

    def matches(self, pkt: dict[str, Any]) -> bool:
        return all(field_matches(k, v, pkt.get(k)) for k, v in self.match.items())

    @property
    def actions(self) -> list[Any]:
        return [a for i in self.instructions if hasattr(i, "actions") for a in i.actions]

    @property
    def meter(self) -> int | None:
        return next((i.meter_id for i in self.instructions if hasattr(i, "meter_id")), None)

    def out_ports(self) -> list[int]:
        return [a.port for a in self.actions if hasattr(a, "port")]

    def set_fields(self) -> dict[str, Any]:
        return {a.key: a.value for a in self.actions if hasattr(a, "key")}


@dataclass
class FakeOFTable:
    """One table: highest priority match wins; ``apply`` takes the compiler's messages."""

    entries: list[Entry] = field(default_factory=list)
    meters: dict[int, Any] = field(default_factory=dict)

    def apply(self, msgs: list[Any]) -> None:
        for msg in msgs:
            name = type(msg).__name__
            if name == "OFPFlowMod":
                self._flow_mod(msg)
            elif name == "OFPMeterMod":
                if msg.command == ofp.OFPMC_DELETE:
                    if msg.meter_id == ofp.OFPM_ALL:
                        self.meters.clear()
                    else:
                        self.meters.pop(msg.meter_id, None)
                else:
                    self.meters[msg.meter_id] = msg

    def _flow_mod(self, msg: Any) -> None:
        match = dict(msg.match.items())
        if msg.command in (ofp.OFPFC_DELETE, ofp.OFPFC_DELETE_STRICT):
            mask = msg.cookie_mask   # OpenFlow 1.3: only entries whose cookie agrees under the mask
            self.entries = [e for e in self.entries
                            if not (all(field_matches(k, v, e.match.get(k)) for k, v in match.items())
                                    and e.cookie & mask == msg.cookie & mask)]
            return
        self.entries = [e for e in self.entries if not (e.priority == msg.priority and e.match == match)]
        for i in msg.instructions:
            meter = getattr(i, "meter_id", None)
            if meter is not None and meter not in self.meters:
                raise AssertionError(f"flow entry uses meter {meter} before it exists")
        self.entries.append(Entry(msg.priority, match, list(msg.instructions), msg.cookie, msg.idle_timeout))

    def lookup(self, pkt: dict[str, Any]) -> Entry | None:
        best = None
        for entry in self.entries:
            if entry.matches(pkt) and (best is None or entry.priority > best.priority):
                best = entry
        return best

    def is_output(self, pkt: dict[str, Any]) -> bool:
        """Forwarded by the switch itself (NORMAL or a port), controller copies aside."""
        entry = self.lookup(pkt)
        return entry is not None and any(p != ofp.OFPP_CONTROLLER for p in entry.out_ports())

    def to_controller(self, pkt: dict[str, Any]) -> bool:
        entry = self.lookup(pkt)
        return entry is not None and ofp.OFPP_CONTROLLER in entry.out_ports()

    def is_dropped(self, pkt: dict[str, Any]) -> bool:
        entry = self.lookup(pkt)
        return entry is None or not entry.out_ports()
