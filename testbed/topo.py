"""Topologies as Mininet ``Topo`` subclasses, registered by name, read by both modes.

Emulation builds them with Mininet. Simulation only needs the graph and the link
options, so when Mininet is not installed (no root, ``make run``) a minimal graph
with the same builder API stands in: ``addHost``, ``addSwitch``, ``addLink``,
``hosts``, ``switches``, ``links(withInfo=True)``, ``nodeInfo``, ``linkInfo``.

Conventions every topology follows (the emulation and the simulator rely on them):
- names start with ``tb`` (``testbed clean`` removes only those);
- host options: ``ip`` (with prefix length), ``role`` (subscriber, server),
  ``operator`` (subscribers, SIP servers and DPI switches), ``serves`` (traffic
  profile names a server answers), ``capacity`` (concurrent calls; 0 unlimited);
- switch options: ``role`` (access, dpi, core, internet), ``operator``, ``dpid``;
- link options as Mininet's TCLink: ``bw`` (Mbit/s), ``delay`` ('5ms'), ``jitter``
  ('1ms'), ``loss`` (percent).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

PREFIX = "tb"

try:  # the real thing where Mininet is installed
    from mininet.topo import Topo as _Base
except ImportError:  # pragma: no cover - depends on the machine
    _Base = None


class _GraphTopo:
    """Mininet's Topo builder API, for simulation without Mininet installed."""

    def __init__(self, *args: Any, **params: Any) -> None:
        self._nodes: dict[str, dict[str, Any]] = {}
        self._links: list[tuple[str, str, dict[str, Any]]] = []
        self.build(*args, **params)

    def build(self, *args: Any, **params: Any) -> None:
        raise NotImplementedError

    def addHost(self, name: str, **opts: Any) -> str:
        self._nodes[name] = dict(opts)
        return name

    def addSwitch(self, name: str, **opts: Any) -> str:
        self._nodes[name] = dict(opts, isSwitch=True)
        return name

    def addLink(self, node1: str, node2: str, **opts: Any) -> tuple[str, str]:
        self._links.append((node1, node2, dict(opts, node1=node1, node2=node2)))
        return node1, node2

    def isSwitch(self, name: str) -> bool:
        return bool(self._nodes[name].get("isSwitch"))

    def hosts(self, sort: bool = True) -> list[str]:
        names = [n for n in self._nodes if not self.isSwitch(n)]
        return sorted(names) if sort else names

    def switches(self, sort: bool = True) -> list[str]:
        names = [n for n in self._nodes if self.isSwitch(n)]
        return sorted(names) if sort else names

    def nodeInfo(self, name: str) -> dict[str, Any]:
        return self._nodes[name]

    def links(self, sort: bool = False, withKeys: bool = False, withInfo: bool = False) -> list[Any]:
        return [(a, b, info) if withInfo else (a, b) for a, b, info in self._links]


Topo: type = _Base if _Base is not None else _GraphTopo


def subscriber_hosts(info: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(host, operator) of every subscriber host, from ``{host: nodeInfo}``."""
    return [(h, str(i.get("operator", ""))) for h, i in info.items() if i.get("role") == "subscriber"]


def server_for(topo: Any, info: dict[str, dict[str, Any]], profile: str, operator: str) -> str:
    """The host serving a traffic profile: the subscriber's own operator's if there is one."""
    hosts = [h for h, i in info.items() if profile in i.get("serves", ())]
    if not hosts:
        hint = " (operator_edge builds it with calling_apps: 1)" if type(topo).__name__ == "OperatorEdge" else ""
        raise ValueError(f"topology {type(topo).__name__} has no server for '{profile}'{hint}")
    own = [h for h in hosts if info[h].get("operator") == operator]
    return (own or hosts)[0]


def ms(value: str | float | int | None) -> float:
    """'5ms' / '2.5ms' / '1s' / 5 → milliseconds."""
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    if text.endswith("ms"):
        return float(text[:-2])
    if text.endswith("us"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1]) * 1000
    return float(text)


@dataclass(frozen=True)
class PathModel:
    """What a path does to packets, combined over its links (one way)."""

    hops: tuple[str, ...]
    delay_ms: float
    jitter_ms: float
    loss: float          # fraction
    bw_mbps: float       # the narrowest link

    def via(self, other: PathModel) -> PathModel:
        """This path followed by ``other`` (e.g. subscriber → VPN server → relay)."""
        return PathModel(self.hops + other.hops[1:], self.delay_ms + other.delay_ms,
                         (self.jitter_ms ** 2 + other.jitter_ms ** 2) ** 0.5,
                         1 - (1 - self.loss) * (1 - other.loss), min(self.bw_mbps, other.bw_mbps))


def path(topo: Any, src: str, dst: str) -> PathModel:
    """The shortest path between two nodes (BFS on hops) and its combined link model."""
    adjacency: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for a, b, info in topo.links(withInfo=True):
        adjacency.setdefault(a, []).append((b, info))
        adjacency.setdefault(b, []).append((a, info))
    previous: dict[str, tuple[str, dict[str, Any]] | None] = {src: None}
    queue = deque([src])
    while queue:
        node = queue.popleft()
        if node == dst:
            break
        for nxt, info in adjacency.get(node, []):
            if nxt not in previous:
                previous[nxt] = (node, info)
                queue.append(nxt)
    if dst not in previous:
        raise ValueError(f"no path from {src} to {dst}")
    hops, links = [dst], []
    node = dst
    while (step := previous[node]) is not None:
        node, info = step
        hops.append(node)
        links.append(info)
    delay = sum(ms(i.get("delay")) for i in links)
    jitter = sum(ms(i.get("jitter")) ** 2 for i in links) ** 0.5
    keep = 1.0
    for info in links:
        keep *= 1 - float(info.get("loss") or 0) / 100
    bw = min((float(i["bw"]) for i in links if i.get("bw")), default=float("inf"))
    return PathModel(tuple(reversed(hops)), delay, jitter, 1 - keep, bw)
