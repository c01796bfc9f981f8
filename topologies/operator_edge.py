"""An operator's edge: subscribers → access → DPI → core → internet with app servers."""

from __future__ import annotations

from typing import Any

from testbed.topo import Topo
from topologies.servers import CALLING_APP_FRONT_ENDS, CALLING_APP_SERVERS, INTERNET_SERVERS, PROBE_SERVERS

OPERATOR_NAMES = ("iam", "meditel", "inwi")  # the three Moroccan operators of 2016


class OperatorEdge(Topo):
    """One or more operators sharing one internet switch.

    Options:
        operators: how many operators (1-3), each with its own access, DPI and core switch.
        subscribers: subscriber hosts per operator.
        access_bw: Mbit/s of each subscriber's access link.
        access_delay_ms, access_jitter_ms, access_loss_pct: the radio access link.
        transit_delay_ms: core → internet (international transit).
        vpn_delay_ms: internet → the VPN server, one way. The apps' relays sit at the
            internet exchange (1 ms); a commercial VPN exit is further: 15 ms by default,
            an exit elsewhere in Western Europe seen from Morocco's transit point. A call
            through it pays the detour both ways.
        turn_delay_ms: internet → the public TURN server (coturn), one way.
        relay_capacity: concurrent calls each app relay carries (0: unlimited).
        fixed_subscribers: subscriber hosts per operator on fixed lines (ADSL, home Wi-Fi) beside
            the mobile ones: addresses 10.<op>0.128.0/18 (mobile: 10.<op>0.0.0/17), so a policy
            can tell the two apart, as operators that blocked mobile data first did.
        fixed_bw, fixed_delay_ms, fixed_jitter_ms, fixed_loss_pct: their access link.
        calling_apps: 1 to add the servers of the calling apps beyond the 2016 block
            (telegram, messenger, zoom, teams, facetime, webrtc, botim), 0 not to.
    """

    # what only this topology knows (testbed.config.limits bounds the rest by unit): it has
    # names and address blocks (10.<op>0.0.0/16) for this many operators, and one /18 of fixed lines
    PARAM_BOUNDS = {"operators": (1, len(OPERATOR_NAMES)), "fixed_subscribers": (0, 250), "calling_apps": (0, 1)}

    def build(self, operators: int = 1, subscribers: int = 4, access_bw: float = 20,  # type: ignore[override]
              access_delay_ms: float = 15, access_jitter_ms: float = 3, access_loss_pct: float = 0.2,
              transit_delay_ms: float = 20, vpn_delay_ms: float = 15, turn_delay_ms: float = 15,
              relay_capacity: int = 0, fixed_subscribers: int = 0, fixed_bw: float = 8,
              fixed_delay_ms: float = 10, fixed_jitter_ms: float = 1, fixed_loss_pct: float = 0.05,
              calling_apps: int = 0, **_: Any) -> None:
        internet = self.addSwitch("tbnet0", role="internet", dpid="%016x" % 0xF0)
        away = {"vpn": vpn_delay_ms, "turn": turn_delay_ms}
        for name, ip, serves in INTERNET_SERVERS + (CALLING_APP_SERVERS if calling_apps else ()):
            host = self.addHost(name, ip=ip, role="server", serves=serves, capacity=relay_capacity)
            delay = max((away[s] for s in serves if s in away), default=1)
            self.addLink(host, internet, bw=1000, delay=f"{delay:g}ms")
        for name, ip, role, fronts in PROBE_SERVERS + (CALLING_APP_FRONT_ENDS if calling_apps else ()):
            self.addLink(self.addHost(name, ip=ip, role=role, fronts=fronts), internet, bw=1000, delay="1ms")
        for op in range(1, operators + 1):
            label = OPERATOR_NAMES[op - 1]
            access = self.addSwitch(f"tbacc{op}", role="access", operator=label, dpid="%016x" % (0x10 * op + 1))
            dpi = self.addSwitch(f"tbdpi{op}", role="dpi", operator=label, dpid="%016x" % (0x10 * op + 2))
            core = self.addSwitch(f"tbcore{op}", role="core", operator=label, dpid="%016x" % (0x10 * op + 3))
            self.addLink(access, dpi, bw=1000, delay="1ms")
            self.addLink(dpi, core, bw=1000, delay="1ms")
            self.addLink(core, internet, bw=1000, delay=f"{transit_delay_ms}ms", jitter="1ms")
            sip = self.addHost(f"tb{op}sip", ip=f"10.{op}0.255.5/16", role="server", operator=label,
                               serves=("sip",), capacity=relay_capacity)
            self.addLink(sip, core, bw=1000, delay="1ms")
            for i in range(1, subscribers + 1):
                sub = self.addHost(f"tb{op}s{i}", ip=f"10.{op}0.{i // 250}.{i % 250 + 2}/16",
                                   role="subscriber", operator=label)
                self.addLink(sub, access, bw=access_bw, delay=f"{access_delay_ms}ms",
                             jitter=f"{access_jitter_ms}ms", loss=access_loss_pct)
            for i in range(1, fixed_subscribers + 1):
                home = self.addHost(f"tb{op}f{i}", ip=f"10.{op}0.{128 + i // 250}.{i % 250 + 2}/16",
                                    role="subscriber", operator=label, access="fixed")
                self.addLink(home, access, bw=fixed_bw, delay=f"{fixed_delay_ms}ms",
                             jitter=f"{fixed_jitter_ms}ms", loss=fixed_loss_pct)


class ThreeOperators(OperatorEdge):
    """The seed's three operators side by side, each with its own DPI switch and policy."""

    def build(self, operators: int = 3, **params: Any) -> None:  # type: ignore[override]
        super().build(operators=operators, **params)
