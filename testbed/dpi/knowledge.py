"""What the DPI knows about the apps' servers before it sees a packet: address blocks, ports, names.

Real DPIs carry lists of each app's address blocks (published ranges, ASN
announcements), its documented server ports and its TLS/QUIC server names. Ours
come from the YAML files in ``endpoints/`` (loaded by ``testbed.config.endpoints``,
each entry with its source and date); this module is the pure part: the data
model and the lookups the classifier makes once per flow.

An address block alone never names a call: chat, media uploads and calls of
one company share its blocks. A ``Service`` names its ``call_app`` only when the
packets show a call (STUN, RTP/RTCP, DTLS, voice-like timing, the app's own
framing), and its ``other_app`` (never a VoIP app) when nothing else was seen.

The address lookup is a bisection over disjoint sorted intervals, built once:
CIDR blocks are nested or disjoint, so painting them from the widest to the
narrowest gives each address its most specific block.
"""

from __future__ import annotations

import datetime
import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from testbed.packets.ip import addr_text

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
PortRange = tuple[int, int]
CACHE = 65536   # addresses whose lookup is remembered


@dataclass(frozen=True)
class Source:
    """Where a fact comes from: a document or a repository file, and its date."""

    id: str
    title: str
    url: str
    date: datetime.date


@dataclass(frozen=True)
class Block:
    """Address prefixes of one source (e.g. the announcements of some ASNs)."""

    source: str
    prefixes: tuple[IPNet, ...]
    asn: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ports:
    """Server ports the app documents."""

    l4: str                        # udp | tcp
    ports: tuple[PortRange, ...]
    what: str
    source: str


@dataclass(frozen=True)
class Names:
    """TLS/QUIC server names (SNI) of the app: a name matches itself and its subdomains."""

    source: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Service:
    """One app's (or company's) servers, as one file of ``endpoints/`` describes them."""

    service: str                   # "Telegram"
    sources: tuple[Source, ...]
    call_app: str | None = None    # named when the packets show a call to these servers
    other_app: str | None = None   # named by the address alone when nothing else is known
    sni_app: str | None = None     # named by the server names below (default: other_app)
    calls_on_ports_only: bool = False  # the call app only on the ``ports`` listed
    networks: tuple[Block, ...] = ()
    ports: tuple[Ports, ...] = ()
    sni: tuple[Names, ...] = ()
    file: str = ""                 # where it was loaded from, for messages

    def source(self, source_id: str) -> Source:
        return next(s for s in self.sources if s.id == source_id)

    def call_port(self, proto: str, port: int) -> bool:
        """Whether ``port`` is one of the call ports (always, unless ``calls_on_ports_only``)."""
        if not self.calls_on_ports_only:
            return True
        return any(p.l4 == proto and any(lo <= port <= hi for lo, hi in p.ports) for p in self.ports)


@dataclass(slots=True)
class Known:
    """An address found in a service's block, with what to say about it (not frozen: one a flow, built fast)."""

    service: Service
    block: Block
    prefix: IPNet
    address: bytes                 # the flow's address that matched (raw)
    port: int                      # the flow's port on that side

    def text(self) -> str:
        """"91.108.9.35 is Telegram (AS62041…, 91.108.8.0/21, source ndpi-asn of 2024-08-02)"."""
        src = self.service.source(self.block.source)
        asn = self.block.asn[0] + ("…" if len(self.block.asn) > 1 else "") + ", " if self.block.asn else ""
        return (f"{addr_text(self.address)} is {self.service.service} ({asn}{self.prefix}, "
                f"source {src.id} of {src.date})")


class _Intervals:
    """Disjoint sorted [start, end] intervals of integers, each with a value; most specific wins."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.values: list[object] = []

    def paint(self, start: int, end: int, value: object) -> None:
        """Give [start, end] to ``value``; callers paint wider blocks first (nested or disjoint)."""
        i = bisect_right(self.starts, start) - 1
        if i >= 0 and self.ends[i] >= start:   # inside an interval painted before: split it
            old_end, old_value = self.ends[i], self.values[i]
            if self.starts[i] == start:
                del self.starts[i], self.ends[i], self.values[i]
                i -= 1
            else:
                self.ends[i] = start - 1
            pieces = [(start, end, value)] + ([(end + 1, old_end, old_value)] if end < old_end else [])
        else:
            pieces = [(start, end, value)]
        at = i + 1
        for offset, (s, e, v) in enumerate(pieces):
            self.starts.insert(at + offset, s)
            self.ends.insert(at + offset, e)
            self.values.insert(at + offset, v)

    def find(self, value: int) -> object | None:
        i = bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.ends[i]:
            return self.values[i]
        return None

    def __len__(self) -> int:
        return len(self.starts)


class Knowledge:
    """Every service's blocks and names, indexed for one lookup per flow."""

    def __init__(self, services: Iterable[Service]) -> None:
        self.services = tuple(services)
        self._v4, self._v6 = _Intervals(), _Intervals()
        self._cache: dict[bytes, tuple[IPNet, Service, Block] | None] = {}
        owners: dict[IPNet, Service] = {}
        entries = []
        for service in self.services:
            for block in service.networks:
                for prefix in block.prefixes:
                    first = owners.setdefault(prefix, service)
                    if first is not service:
                        raise ValueError(f"{prefix} is in both {first.file} ({first.service}) and "
                                         f"{service.file} ({service.service})")
                    entries.append((prefix.prefixlen, prefix, service, block))
        # widest first, so narrower blocks are painted on top (prefixes are nested or disjoint)
        entries.sort(key=lambda e: (e[1].version, e[0]))
        for _, prefix, service, block in entries:
            table = self._v4 if prefix.version == 4 else self._v6
            table.paint(int(prefix.network_address), int(prefix.broadcast_address), (prefix, service, block))
        self._names = {name.lower().rstrip("."): service for service in self.services
                       for group in service.sni for name in group.names}

    def __len__(self) -> int:
        return len(self._v4) + len(self._v6)

    def service_of(self, raw: bytes) -> tuple[IPNet, Service, Block] | None:
        """The most specific block holding a raw IPv4 (4 bytes) or IPv6 (16 bytes) address.

        Flows share addresses (a subscriber, a relay): answers are kept for the next
        flows, up to ``CACHE`` addresses (then the cache starts over).
        """
        cache = self._cache
        if raw in cache:
            return cache[raw]
        if len(cache) >= CACHE:
            cache.clear()
        table = self._v4 if len(raw) == 4 else self._v6
        found: tuple[IPNet, Service, Block] | None = table.find(int.from_bytes(raw, "big"))  # type: ignore[assignment]
        cache[raw] = found
        return found

    def known(self, server: bytes, sport: int, client: bytes, cport: int) -> Known | None:
        """A flow's server address in a block, else its client's (the flow's first packet may be a reply)."""
        found = self.service_of(server)
        if found is not None:
            return Known(found[1], found[2], found[0], server, sport)
        found = self.service_of(client)
        if found is not None:
            return Known(found[1], found[2], found[0], client, cport)
        return None

    def sni_service(self, name: str) -> Service | None:
        """The service a server name belongs to: the name or a parent domain listed."""
        labels = name.lower().rstrip(".").split(".")
        for i in range(len(labels)):          # the name itself first: the most specific wins
            service = self._names.get(".".join(labels[i:]))
            if service is not None:
                return service
        return None


EMPTY = Knowledge(())
