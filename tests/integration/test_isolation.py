"""Emulated traffic stays inside the namespaces the testbed creates.

While a session is up, with a call and a chat flowing: the host's namespace has no
address, route, NAT rule or bridge port leading into the emulated network, a ping from
it reaches no emulated host, and nothing the testbed started listens beyond the
loopback (in the host's namespace) or its own emulated host (in each host's namespace).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import edge, plans, policy

pytestmark = [pytest.mark.root, pytest.mark.slow]


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=20).stdout


def in_ns(pid: int, *cmd: str) -> str:
    """A command in the network namespace of process ``pid`` (a Mininet host's shell)."""
    return run("nsenter", f"--net=/proc/{pid}/ns/net", *cmd)


def listeners(text: str) -> list[tuple[str, str, set[int]]]:
    """(protocol, local address, owning PIDs) of every line of ``ss -Hlntup``."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        address = fields[4].rsplit(":", 1)[0].strip("[]").split("%")[0]
        out.append((fields[0], address, {int(p) for p in re.findall(r"pid=(\d+)", line)}))
    return out


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
    found, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def icmp_echoes_in(pid: int) -> int:
    lines = [line.split() for line in in_ns(pid, "cat", "/proc/net/snmp").splitlines() if line.startswith("Icmp:")]
    return int(lines[1][lines[0].index("InEchos")])


def test_emulated_traffic_stays_in_its_namespaces(session_for) -> None:
    started = time.monotonic()
    s = session_for(edge(), policy("anrt-2016"))
    hosts = {name: s.net.get(name) for name in s.ips}
    emulated = set(s.ips.values())
    # a call (dropped by the DPI) and a chat (allowed) flowing while we look
    flows = [s.spec("tb1s1", "tbwa", plans("whatsapp")[0], hold=4), s.spec("tb1s2", "tbwac", plans("whatsapp_chat")[0])]
    placing = threading.Thread(target=s.place, args=(flows,), daemon=True)
    placing.start()
    time.sleep(1.5)

    # a ping from the host's namespace reaches no emulated host, nor one from an emulated host
    # the host's own addresses (Linux answers ARP for them on any interface, unless told not to)
    subscriber = hosts["tb1s1"]
    before = icmp_echoes_in(subscriber.pid)
    subprocess.run(["ping", "-c", "2", "-W", "1", s.ips["tb1s1"]], capture_output=True, timeout=10)
    assert icmp_echoes_in(subscriber.pid) == before
    own = [a["local"] for i in json.loads(run("ip", "-j", "addr")) for a in i.get("addr_info", [])
           if a["family"] == "inet" and not ipaddress.ip_address(a["local"]).is_loopback]
    assert own, "the host has an address to try"
    for address in own:
        ping = subprocess.run(["nsenter", f"--net=/proc/{subscriber.pid}/ns/net", "ping", "-c", "1", "-W", "1", address],
                              capture_output=True, text=True, timeout=10)
        assert ping.returncode != 0 and " 0 received" in ping.stdout, (address, ping.stdout)

    # no address, route, NAT rule or bridge port of the host's namespace leads into the emulation
    addresses = json.loads(run("ip", "-j", "addr"))
    ours = [i["ifname"] for i in addresses if i["ifname"].startswith("tb")]
    assert ours, "the switches' ports live in the host namespace: there must be some to check"
    for iface in addresses:
        for a in iface.get("addr_info", []):
            assert not iface["ifname"].startswith("tb"), f"{iface['ifname']} has address {a['local']}"
            net = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
            assert not any(ipaddress.ip_address(e) in net for e in emulated if net.prefixlen > 0), (iface, a)
    routes = json.loads(run("ip", "-j", "route", "show", "table", "all"))
    for route in routes:
        assert not str(route.get("dev", "")).startswith("tb"), route
    for address in emulated:
        got = run("ip", "route", "get", address)
        assert " dev tb" not in got, got
    nat = run("iptables", "-t", "nat", "-S")
    assert "tb" not in nat and not any(e in nat for e in emulated), nat
    for bridge in run("ovs-vsctl", "list-br").split():
        if bridge.startswith("tb"):
            assert all(p.startswith("tb") for p in run("ovs-vsctl", "list-ports", bridge).split()), bridge

    # what the testbed started listens on the loopback only (host namespace) ...
    mine = descendants(os.getpid())
    host_side = [(p, a, pids) for p, a, pids in listeners(run("ss", "-Hlntup")) if pids & mine]
    assert host_side, "the controller listens in the host namespace: it must be seen"
    for proto, address, _ in host_side:
        assert ipaddress.ip_address(address).is_loopback, (proto, address)
    # ... and, in each emulated host, on its own address (its namespace has nothing else)
    seen = 0
    for name, host in hosts.items():
        links = [line.split(": ")[1].split("@")[0] for line in in_ns(host.pid, "ip", "-o", "link").splitlines()]
        assert sorted(links) == sorted(["lo", f"{name}-eth0"]), (name, links)
        for proto, address, _ in listeners(in_ns(host.pid, "ss", "-Hlntup")):
            seen += 1
            assert address in ("0.0.0.0", "*", "::", s.ips[name]) or ipaddress.ip_address(address).is_loopback, \
                (name, proto, address)
    assert seen > 0, "the servers of the flows listen in their namespaces: they must be seen"
    placing.join(timeout=20)
    assert not placing.is_alive()
    print(f"isolation checked in {time.monotonic() - started:.1f} s: {len(ours)} switch ports, {len(routes)} routes, "
          f"{len(host_side)} host-side listeners, {seen} in the emulated hosts")
