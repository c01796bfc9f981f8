"""What the emulation needs from the machine, checked before anything starts.

Root, Open vSwitch running (started with ``ovs-ctl`` if not: there is no systemd),
Mininet importable (apt's, linked into the venv by the Makefile), os-ken, and
which delay shaper works here: netem, or the NFQUEUE delayer.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from testbed.topo import PREFIX

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
NETEM, NFQUEUE = "netem", "nfqueue-delayer+iptables-statistic"
OFF = "off"   # no link delay, jitter or loss at all (benchmarks of the DPI alone)
TOOLS = ("ovs-vsctl", "ovs-ofctl", "ip", "tc", "iptables-restore", "ethtool", "dumpcap", "mnexec")


class EmulationUnavailable(RuntimeError):
    """The machine cannot run the emulation; the message says what is missing and how to fix it."""


def require() -> None:
    """Fail with one clear message unless root, the tools, Mininet, os-ken and OVS are there."""
    if os.geteuid() != 0:
        raise EmulationUnavailable("emulation needs root (Mininet creates namespaces and veths)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise EmulationUnavailable(f"missing tools: {' '.join(missing)} (make test / make emulate "
                                   "install the Debian packages)")
    try:
        import mininet.net  # noqa: F401
    except ImportError as exc:
        raise EmulationUnavailable(f"Mininet is not importable ({exc}): apt install mininet and link "
                                   "/usr/lib/python3/dist-packages/mininet into the venv "
                                   "(make emulate does both)") from exc
    try:
        import netfilterqueue  # noqa: F401
        import os_ken  # noqa: F401
    except ImportError as exc:
        raise EmulationUnavailable(f"{exc.name} is not installed: pip install -e '.[emu]'") from exc
    ensure_ovs()


def ensure_ovs() -> None:
    """Start ovsdb-server and ovs-vswitchd without systemd, unless they already run."""
    if subprocess.run(["ovs-vsctl", "--timeout=2", "show"], capture_output=True).returncode == 0:
        return
    subprocess.run([OVS_CTL, "start", "--system-id=random"], capture_output=True, check=False)
    if subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode != 0:
        raise EmulationUnavailable(f"Open vSwitch is not running and '{OVS_CTL} start' did not start it")


def netem_available() -> bool:
    """Try a netem qdisc in a scratch namespace: the kernel module may simply not be there."""
    ns = f"{PREFIX}probe{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        return False
    try:
        done = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root",
                               "netem", "delay", "1ms"], capture_output=True)
        return done.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def delay_shaper(prefer: str | None = None) -> str:
    """Which shaper delays packets on this machine: ``netem`` where the kernel has it."""
    if prefer in (NFQUEUE, OFF):
        return prefer
    if netem_available():
        return NETEM
    if prefer == NETEM:
        raise EmulationUnavailable("netem was asked for but this kernel has no netem qdisc")
    return NFQUEUE
