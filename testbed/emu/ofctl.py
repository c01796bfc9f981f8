"""Reading a switch's flow table back (``ovs-ofctl dump-flows``): its entries and their counters."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

_FIELD = re.compile(r"(\w+)=([^,\s]+)")
# an entry's flags, printed before its priority with a space, not a comma ("send_flow_rem priority=20000")
_ENTRY_FLAGS = frozenset({"send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts", "no_byte_counts"})


@dataclass(frozen=True)
class Dumped:
    priority: int
    match: dict[str, str]
    actions: str
    n_packets: int
    n_bytes: int
    cookie: int

    @property
    def drops(self) -> bool:
        return self.actions == "drop"


def parse(text: str) -> list[Dumped]:
    """``ovs-ofctl -O OpenFlow13 dump-flows`` lines → entries (the header line is skipped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if "actions=" not in line:
            continue
        head, actions = line.rsplit("actions=", 1)
        fields: dict[str, str] = {}
        flags = []
        for part in head.replace(",", " ").split():
            m = _FIELD.fullmatch(part)
            if m:
                fields[m.group(1)] = m.group(2)
            elif part not in _ENTRY_FLAGS:
                flags.append(part)   # ip, udp, tcp, arp...
        match = {k: v for k, v in fields.items()
                 if k not in ("cookie", "duration", "table", "n_packets", "n_bytes", "priority",
                              "idle_timeout", "hard_timeout", "idle_age", "hard_age")}
        for flag in flags:
            match[flag] = ""
        out.append(Dumped(int(fields.get("priority", "32768")), match, actions.strip(),
                          int(fields.get("n_packets", "0")), int(fields.get("n_bytes", "0")),
                          int(fields.get("cookie", "0"), 16)))
    return out


def dump_flows(bridge: str) -> list[Dumped]:
    done = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge],
                          capture_output=True, text=True, check=True)
    return parse(done.stdout)


def flow_entries(entries: list[Dumped], src: str, sport: int, dst: str, dport: int) -> list[Dumped]:
    """The entries matching exactly this direction of a flow (the controller's verdict entries)."""
    return [e for e in entries
            if e.match.get("nw_src") == src and e.match.get("nw_dst") == dst
            and e.match.get("tp_src", e.match.get("udp_src", e.match.get("tcp_src"))) == str(sport)
            and e.match.get("tp_dst", e.match.get("udp_dst", e.match.get("tcp_dst"))) == str(dport)]


@dataclass(frozen=True)
class RuleCount:
    packets: int
    bytes: int


def rule_counters(entries: list[Dumped], above: int) -> dict[int, RuleCount]:
    """The switch's counters per rule over the entries of priority above ``above`` (the
    compiler's proactive entries carry their rule's index in the cookie's low 32 bits, mirrored
    entries too; the bits above are the pipeline's generation, which a reload bumps — and a
    reloaded entry's counters start again from 0)."""
    out: dict[int, RuleCount] = {}
    for e in entries:
        if e.priority > above:
            index = e.cookie & 0xFFFF_FFFF
            have = out.get(index, RuleCount(0, 0))
            out[index] = RuleCount(have.packets + e.n_packets, have.bytes + e.n_bytes)
    return out
