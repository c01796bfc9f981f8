"""The real circumvention daemons in the call path: how a strategy carries a plan in emulation.

``vpn`` and ``vpn-tcp443`` (``testbed.emu.openvpn``): at the start of a cell whose strategy is
one of them, every subscriber host connects its OpenVPN client under the cell's policy, so
the DPI sees each tunnel's handshake (a blocked tunnel never comes up). An adopter's call
sends the app's own flows (the plan's ``inner``) to the app's server with the tunnel's
socket mark; the VPN host NATs them, so the server sees them from it.

``turn-tcp443`` (``testbed.emu.coturn``): each media flow of an adopter's call gets its own
relay client, which allocates on coturn over TCP 443 and binds a channel to the app's
server; the app sends to it on loopback, the server sees the call from the relayed
address. Signalling is not relayed (TURN carries the media), as the synthetic strategy has it.

What the DPI did to such a call is what it did to the tunnel, or to the relay's connection:
their 5-tuples are known in advance (the clients bind ports of ``OWN_PORTS``), so the
controller's verdict on them — or the proactive rule they match — is the call's ``Seen``. A
tunnel (re)connects from a port it has not used yet: the switch keeps a decided flow's entries
after a reload until they idle out, so a tunnel on an earlier tunnel's 5-tuple would pass under
the earlier policy's verdict without the DPI seeing its handshake.
A tunnelled flow's own client port comes from ``TUNNELLED_PORTS``, one sequence for every
host, so that two calls through the VPN host's NAT never share a port.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Generator
from typing import Any

import simpy

from testbed.dpi.flow import FlowKey
from testbed.emu import pki as pkimod
from testbed.emu.coturn import Coturn, RelayClient
from testbed.emu.openvpn import TRANSPORTS, OpenVpn
from testbed.packets.ip import TCP, UDP, addr_bytes
from testbed.topo import subscriber_hosts

TURN = "turn-tcp443"
STRATEGIES = (*TRANSPORTS, TURN)
CONNECT_TIMEOUT_S = 8.0        # a tunnel not up by then is blocked (up in 0.5-1.5 s here; OpenVPN gives up after 60 s)
OWN_PORTS = range(25000, 26000)          # the daemons' clients' own ports (their 5-tuples known):
TUNNEL_PORTS, RELAY_PORTS = OWN_PORTS[:500], OWN_PORTS[500:]   # a tunnel's for the session, a relay's for a call
TUNNELLED_PORTS = range(26000, 32000)    # the client ports of flows inside a tunnel (one NAT for all hosts)
POLL_S = 0.02


class Daemons:
    """The circumvention daemons of a session, started the first time a cell needs them."""

    def __init__(self, session: Any) -> None:
        self.s = session
        self._pki: pkimod.Pki | None = None
        self.vpn: OpenVpn | None = None
        self.turn: Coturn | None = None
        self.servers: set[str] = set()
        self.up: dict[tuple[str, str], str | None] = {}     # (host, strategy) → tunnel address or None
        self.lports: dict[tuple[str, str], int] = {}
        self._own = itertools.cycle(TUNNEL_PORTS)           # reused long after a tunnel's entries idled out
        self._relay_ports = itertools.cycle(RELAY_PORTS)    # reused long after the last one's TIME_WAIT
        self._tunnelled = itertools.cycle(TUNNELLED_PORTS)

    @staticmethod
    def carries(strategy: str) -> bool:
        return strategy in STRATEGIES

    @property
    def pki(self) -> pkimod.Pki:
        if self._pki is None:
            self._pki = pkimod.make(self.s.state.private / "pki", ("tbvpn", "tbturn"))
        return self._pki

    def server(self, strategy: str) -> None:
        """The strategy's server (OpenVPN on the VPN host, coturn on the TURN host), once."""
        if strategy in self.servers:
            return
        if strategy in TRANSPORTS:
            self.vpn = self.vpn or OpenVpn(self.s, self.pki)
            self.vpn.start_server(strategy)
        else:
            self.turn = Coturn(self.s, self.pki)
            self.turn.start()
        self.servers.add(strategy)

    def start_cell(self, strategy: str) -> dict[str, str | None]:
        """Ready the daemons a cell's strategy needs; for a VPN, every subscriber host's tunnel
        (re)connected under the policy now in force: {host: tunnel address, or None if blocked}."""
        if not self.carries(strategy):
            return {}
        self.server(strategy)
        if strategy not in TRANSPORTS:
            return {}
        return self.connect([h for h, _ in subscriber_hosts(self.s.host_info)], strategy)

    def connect(self, hosts: list[str], strategy: str) -> dict[str, str | None]:
        """The hosts' tunnels of a VPN strategy (re)connected now, under the policy in force, each
        from a port it has not used yet (module doc): {host: tunnel address, or None if blocked}."""
        self.server(strategy)
        assert self.vpn is not None
        for host in hosts:
            self.vpn.disconnect(host, strategy)
            self.lports[(host, strategy)] = next(self._own)
        found = self.vpn.connect_all(hosts, strategy, CONNECT_TIMEOUT_S,
                                     {h: self.lports[(h, strategy)] for h in hosts})
        self.up.update({(h, strategy): ip for h, ip in found.items()})
        return found

    def tunnel(self, host: str, strategy: str) -> tuple[bool, FlowKey]:
        """(is the host's tunnel up, its 5-tuple as the DPI keys it)."""
        t = TRANSPORTS[strategy]
        key = (UDP if t.proto == "udp" else TCP, addr_bytes(self.s.ips[host]), self.lports.get((host, strategy), 0),
               addr_bytes(self.s.ips["tbvpn"]), t.port)
        return self.up.get((host, strategy)) is not None, key

    def client_port(self) -> int:
        return next(self._tunnelled)

    def relay(self, env: simpy.Environment, host: str, peer: tuple[str, int]) -> Generator[Any, Any, RelayClient]:
        """A relay client for one media flow, allocated (or failed: ``error``), waited for in SimPy time."""
        assert self.turn is not None
        client = self.turn.start_relay(host, peer, tcp_port=next(self._relay_ports))
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not client.poll():
            if time.monotonic() > deadline:
                client.error = "no answer"
                break
            yield env.timeout(POLL_S)
        return client

    def relay_key(self, client: RelayClient) -> FlowKey:
        return (TCP, addr_bytes(self.s.ips[client.host]), client.tcp_port, addr_bytes(self.s.ips["tbturn"]), 443)

    def done(self, client: RelayClient) -> None:
        assert self.turn is not None
        self.turn.forget(client)

    def close(self) -> None:
        for service in (self.turn, self.vpn):
            if service is not None:
                service.close()
