"""The corpus's labels (nDPI's verdicts) matched to our flows, for recall and collateral.

A labelled flow is a 5-tuple in one capture, in either direction. Our flow table
may cut it into several flows where it sat idle longer than the policy's idle
timeout; the labelled flow counts as hit when any of them is hit, and the packet
that decided it counts from the labelled flow's first packet.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from testbed.dpi.replay import FlowRow, run_capture
from testbed.policy.model import Policy

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
PCAPS = CORPUS / "pcap"
LABELS = CORPUS / "labels.jsonl"

SEED_APPS = ("WhatsApp", "Viber", "Skype", "IMO")  # the 2016 block named these apps' calls


@dataclass(frozen=True)
class Label:
    pcap: str
    l4: str
    a_ip: str
    a_port: int
    b_ip: str
    b_port: int
    ndpi: str
    category: str
    ndpi_packets: int

    @property
    def voip(self) -> bool:
        return self.category == "VoIP"

    @property
    def whatsapp_chat(self) -> bool:
        return self.ndpi == "WhatsApp" and self.category == "Chat"

    @property
    def app(self) -> str:
        """The app part of nDPI's ``Master.App`` name."""
        return self.ndpi.rsplit(".", 1)[-1]

    @property
    def seed_app(self) -> bool:
        return any(self.app.upper().startswith(name.upper()) for name in SEED_APPS)

    def keys(self) -> tuple[tuple[str, str, int, str, int], ...]:
        return ((self.l4, self.a_ip, self.a_port, self.b_ip, self.b_port),
                (self.l4, self.b_ip, self.b_port, self.a_ip, self.a_port))


@dataclass(frozen=True)
class Outcome:
    label: Label
    rows: tuple[FlowRow, ...]   # our flows of this 5-tuple, in order

    @property
    def hit(self) -> bool:
        return any(row.hit for row in self.rows)

    @property
    def decided_at(self) -> int | None:
        """Packet of the labelled flow (both directions, from 1) where the first hit came."""
        before = 0
        for row in self.rows:
            if row.hit:
                return before + row.decided_at_packet
            before += row.packets
        return None


def _canonical(ip: str) -> str:
    """The address as we print it (nDPI writes some IPv6 addresses in other forms)."""
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return ip  # nDPI printed a few IPv6 addresses wrongly ('...::19::'): they match nothing


@cache
def labels() -> tuple[Label, ...]:
    with open(LABELS, encoding="utf-8") as f:
        raw = [json.loads(line) for line in f if line.strip()]
    return tuple(Label(r["pcap"], r["l4"], _canonical(r["a_ip"]), r["a_port"], _canonical(r["b_ip"]),
                       r["b_port"], r["ndpi"], r["category"], r["ndpi_packets"]) for r in raw)


def captures() -> list[Path]:
    return sorted(p for p in PCAPS.iterdir() if p.is_file())


def outcomes(policy: Policy) -> list[Outcome]:
    """Every labelled flow with our flows of the same 5-tuple, under ``policy``."""
    rows_by_key: dict[tuple[str, tuple[str, str, int, str, int]], list[FlowRow]] = defaultdict(list)
    for path in captures():
        for row in run_capture(path, policy).rows:
            rows_by_key[(row.capture, (row.l4, row.src_ip, row.src_port, row.dst_ip, row.dst_port))].append(row)
    out = []
    for label in labels():
        rows = [row for key in label.keys() for row in rows_by_key.get((label.pcap, key), [])]  # noqa: SIM118
        out.append(Outcome(label, tuple(sorted(rows, key=lambda r: r.first_ts))))
    return out


def per_app_table(rows: list[Outcome], title: str) -> str:
    """flows / hit / missed per nDPI app name, for the terminal."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for outcome in rows:
        counts[outcome.label.ndpi][0] += 1
        counts[outcome.label.ndpi][1] += outcome.hit
    width = max([len(name) for name in counts] + [len(title)])
    lines = [f"{title:<{width}}  flows    hit  missed"]
    for name, (flows, hit) in sorted(counts.items()):
        lines.append(f"{name:<{width}}  {flows:5d}  {hit:5d}  {flows - hit:6d}")
    flows = sum(c[0] for c in counts.values())
    hit = sum(c[1] for c in counts.values())
    lines.append(f"{'total':<{width}}  {flows:5d}  {hit:5d}  {flows - hit:6d}")
    return "\n".join(lines)
