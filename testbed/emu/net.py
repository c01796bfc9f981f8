"""A topology (``topologies/``) as a Mininet network on Open vSwitch's userspace datapath.

Every switch is an OVS bridge with ``datapath_type=netdev`` (no kernel module
here). DPI switches (``role: dpi``) speak OpenFlow 1.3 to our controller on
127.0.0.1 and fail as their policy says (secure | standalone); the other
switches are plain MAC-learning bridges with no controller. All hosts share one
L2 network: each gets its address and a default route out of its interface, so
every address — subscribers' 10.x/16 and the servers' public-looking /24s — is
on-link and the switches only ever forward by MAC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mininet.link import Link, OVSLink, TCIntf
from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController

from testbed.emu.shaping import link_params
from testbed.emu.state import RunState
from testbed.emu.system import NETEM

CONTROLLER_NAME = "tbc0"
RECONNECT_MS = 1000       # OVS's minimum max_backoff
INACTIVITY_PROBE_MS = 1000   # standalone DPIs fail open ~3 probe intervals after losing the controller
PATCH_MIN_MBPS = 1000        # switch-to-switch links at least this fast need no HTB: a patch port


class OurController(RemoteController):  # type: ignore[misc]
    """Our os-ken app on loopback; it starts after the switches, so no "unable to contact" check."""

    def checkListening(self) -> None:
        pass


class PlainSwitch(OVSSwitch):  # type: ignore[misc]
    """A bridge that switches on its own (NORMAL): never talks to a controller."""

    def __init__(self, name: str, **params: Any) -> None:
        params.update(failMode="standalone", datapath="user", protocols="OpenFlow13")
        super().__init__(name, **params)

    def start(self, controllers: list[Any]) -> None:
        super().start([])


class DpiSwitch(OVSSwitch):  # type: ignore[misc]
    """The operator's DPI box: every decision comes from the controller."""

    def __init__(self, name: str, **params: Any) -> None:
        params.update(datapath="user", protocols="OpenFlow13", reconnectms=RECONNECT_MS)
        super().__init__(name, **params)


class QuietTCIntf(TCIntf):  # type: ignore[misc]
    """HTB with an explicit quantum: tc otherwise warns on every fast link (r2q)."""

    def bwCmds(self, *args: Any, **kwargs: Any) -> tuple[list[str], str]:
        cmds, parent = super().bwCmds(*args, **kwargs)
        return [c + " quantum 1514" if " htb rate " in c else c for c in cmds], parent


class ShapedLink(Link):  # type: ignore[misc]
    """A veth pair whose ends Mininet configures with tc (HTB; netem when asked and present)."""

    def __init__(self, node1: Any, node2: Any, **params: Any) -> None:
        Link.__init__(self, node1, node2, intf=QuietTCIntf, cls1=QuietTCIntf, cls2=QuietTCIntf,
                      params1=params, params2=params, **{k: v for k, v in params.items()
                                                        if k in ("port1", "port2")})


def patchable(info: dict[str, Any], shaper: str) -> bool:
    """A switch-to-switch link that shapes nothing can be an OVS patch port: inside the one
    userspace datapath a packet then crosses it without a syscall — twice the calls the
    same two cores carry (``benchmarks/emu_capacity.py``). Links that are bottlenecks, or
    that netem delays, stay veth pairs; so do a DPI's links when we capture (a patch port
    has no device to capture on, and OVS mirrors miss packets coming in over patch ports)."""
    return shaper != NETEM and (not info.get("bw") or float(info["bw"]) >= PATCH_MIN_MBPS)


def host_ip(info: dict[str, Any]) -> str:
    return str(info["ip"]).split("/")[0]


def dpi_switches(topo: Any) -> list[str]:
    return [s for s in topo.switches() if topo.nodeInfo(s).get("role") == "dpi"]


def build(topo: Any, fail_modes: dict[str, str], controller_port: int, shaper: str,
          state: RunState, capture: bool = True) -> Any:
    """Create (not start) the network; every process Mininet starts is recorded in ``state``.
    ``capture``: the DPI switches' links stay veth pairs, for the capture."""
    net = Mininet(topo=None, build=False, controller=None, autoSetMacs=True, waitConnected=False)
    ctl = net.addController(OurController(CONTROLLER_NAME, ip="127.0.0.1", port=controller_port))
    state.process(ctl.pid, f"mininet shell {CONTROLLER_NAME}")
    for name in topo.switches():
        info = topo.nodeInfo(name)
        if name in fail_modes:
            node = net.addSwitch(name, cls=DpiSwitch, dpid=info.get("dpid"), failMode=fail_modes[name])
        else:
            node = net.addSwitch(name, cls=PlainSwitch, dpid=info.get("dpid"))
        state.process(node.pid, f"mininet shell {name}")
    for name in topo.hosts():
        info = topo.nodeInfo(name)
        node = net.addHost(name, ip=str(info["ip"]))
        state.process(node.pid, f"mininet shell {name}")
    for a, b, info in topo.links(withInfo=True):
        watched = capture and (a in fail_modes or b in fail_modes)
        if topo.isSwitch(a) and topo.isSwitch(b) and not watched and patchable(info, shaper):
            net.addLink(a, b, cls=OVSLink)
        else:
            net.addLink(a, b, cls=ShapedLink, **link_params(info, shaper))
    return net


def check_bridges(net: Any) -> None:
    """Mininet ignores a failed ``ovs-vsctl``: make sure every bridge really exists."""
    for switch in net.switches:
        if switch.cmd("ovs-vsctl br-exists", switch.name, "&& echo yes").strip() != "yes":
            raise RuntimeError(f"Open vSwitch did not create bridge {switch.name}")


def configure_hosts(net: Any) -> None:
    """On-link default routes, no IPv6 chatter, checksums computed in software; the switches'
    ports sealed off from the host's own network stack."""
    for host in net.hosts:
        intf = host.defaultIntf()
        host.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
        host.cmd("ethtool -K", intf, "tx off rx off >/dev/null 2>&1")
        host.cmd("ip route replace default dev", intf)
    for switch in net.switches:
        for name in [switch.name] + [str(i) for i in switch.intfList() if str(i) != "lo"]:
            seal(name)


# Per interface of the host's namespace (its /proc/sys): no IPv6 (no link-local address, no
# fe80::/64 route into the emulation), no ARP answers for the host's own addresses (Linux would
# answer on any interface, and an emulated host could then reach the host's services), no
# forwarding of what arrives there.
_SEALED = (("ipv6", "disable_ipv6", "1"), ("ipv4", "arp_ignore", "8"), ("ipv4", "forwarding", "0"))


def seal(interface: str, proc: Path = Path("/proc/sys/net")) -> None:
    """Cut an interface of ours in the host's namespace off from the host's IP stack; patch
    ports have no kernel interface and are skipped."""
    for family, key, value in _SEALED:
        path = proc / family / "conf" / interface / key
        if path.exists():
            path.write_text(value)


def set_fail_mode(net: Any, switch: str, mode: str) -> None:
    node = net.get(switch)
    node.failMode = mode
    node.cmd("ovs-vsctl set-fail-mode", switch, mode)


def tune_controller_link(net: Any, switch: str) -> None:
    """Probe the controller every second, so a standalone DPI fails open within seconds."""
    node = net.get(switch)
    for uuid in node.controllerUUIDs(update=True):
        node.cmd("ovs-vsctl set Controller", uuid, f"inactivity_probe={INACTIVITY_PROBE_MS}")


def dpi_links(net: Any, switch: str) -> dict[str, str]:
    """The DPI switch's data ports → the node at each one's other end."""
    out = {}
    for intf in net.get(switch).intfList():
        if str(intf) != "lo" and intf.link is not None:
            other = intf.link.intf2 if intf.link.intf1 is intf else intf.link.intf1
            out[str(intf)] = other.node.name
    return out
