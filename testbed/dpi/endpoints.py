"""Endpoint memory: a UDP address:port that carried a call keeps its app for new flows.

A call's media often moves to a new 5-tuple after the app has shown itself:
WhatsApp allocates on its relays (STUN attribute 0x4000) and then sends media
peer to peer from the same local port, with nothing app-specific left in the
packets. The socket is the same, so the new flow belongs to the same call.
nDPI keeps the same kind of cache for STUN (``stun_cache``, keyed on address
and port); operators' DPI boxes call it flow association.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.packets.ip import addr_text

Endpoint = tuple[bytes, int]  # raw IP address, port


@dataclass(frozen=True, slots=True)
class Remembered:
    app: str
    why: str      # how the earlier flow was recognised
    seen: float   # last time a flow of this endpoint was recognised or matched


class EndpointMemory:
    """Endpoints of recognised call flows, oldest forgotten first, each for ``ttl`` seconds."""

    def __init__(self, ttl: float = 120.0, max_entries: int = 65536) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._apps: dict[Endpoint, Remembered] = {}

    def __len__(self) -> int:
        return len(self._apps)

    def remember(self, endpoint: Endpoint, app: str, why: str, ts: float) -> None:
        apps = self._apps
        apps.pop(endpoint, None)  # re-insert: dict order is the age order
        if len(apps) >= self.max_entries:
            del apps[next(iter(apps))]
        apps[endpoint] = Remembered(app, why, ts)

    def recall(self, endpoint: Endpoint, ts: float) -> Remembered | None:
        found = self._apps.get(endpoint)
        if found is None:
            return None
        if ts - found.seen > self.ttl:
            del self._apps[endpoint]
            return None
        return found


def endpoint_text(endpoint: Endpoint) -> str:
    raw, port = endpoint
    return f"[{addr_text(raw)}]:{port}" if len(raw) == 16 else f"{addr_text(raw)}:{port}"
