"""``testbed clean``: remove what emulation runs left behind — ours only.

Ours: the processes a run recorded (``testbed.emu.state``, matched by PID *and*
start time), Open vSwitch bridges, interfaces and named network namespaces whose
names start with ``tb``. Mininet hosts live in unnamed namespaces held by their
shell processes: stopping those processes removes the namespaces and the veths
inside them. Idempotent: a second run finds nothing and says so.

Nothing is touched while another run that recorded itself is still alive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

from testbed.emu.state import STATE_DIR, Proc, alive, records
from testbed.topo import PREFIX

GRACE_S = 2.0


def _run(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def _stop(procs: list[Proc]) -> list[str]:
    """SIGTERM, a grace period, then SIGKILL: the processes that were still ours."""
    living = [p for p in procs if alive(p.pid, p.started)]
    for p in living:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(alive(p.pid, p.started) for p in living):
        time.sleep(0.05)
    for p in living:
        if alive(p.pid, p.started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
    return [f"stopped process {p.pid} ({p.what})" for p in living]


def bridges() -> list[str]:
    return [b for b in _run("ovs-vsctl", "--timeout=5", "list-br").split() if b.startswith(PREFIX)]


def links() -> list[str]:
    """Our interfaces in this namespace (veth ends, userspace bridges' tap devices)."""
    names = []
    for line in _run("ip", "-o", "link", "show").splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(PREFIX):
                names.append(name)
    return names


def namespaces() -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines()
            if line.split() and line.split()[0].startswith(PREFIX)]


def leftovers() -> dict[str, list[str]]:
    """What of ours exists right now (for tests and the start of a run)."""
    procs = [f"{p.pid} ({p.what})" for r in records() for p in r.procs if alive(p.pid, p.started)]
    return {"processes": procs, "bridges": bridges(), "links": links(), "namespaces": namespaces()}


def clean(include_self: bool = False) -> list[str]:
    """Remove our leftovers; the lines say what went. ``include_self``: also this process's run."""
    out: list[str] = []
    recs = records()
    busy = [r for r in recs if r.owner_alive and (r.owner.pid != os.getpid() or not include_self)]
    if busy:
        return [f"emulation run of process {r.owner.pid} is still running; stop it first "
                f"(its record: {r.path})" for r in busy]
    for rec in recs:
        out += _stop(list(rec.procs))
    # the processes first: their namespaces and the veth ends inside go with them
    for bridge in bridges():
        subprocess.run(["ovs-vsctl", "--timeout=5", "--if-exists", "del-br", bridge], check=False)
        out.append(f"deleted bridge {bridge}")
    for ns in namespaces():
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        out.append(f"deleted namespace {ns}")
    for name in links():
        if subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False).returncode == 0:
            out.append(f"deleted interface {name}")
    for rec in recs:
        private = rec.path.with_suffix(".d")   # keys made at run time (testbed.emu.probes): never left behind
        if private.is_dir():
            shutil.rmtree(private, ignore_errors=True)
            out.append(f"removed {private}")
        rec.path.unlink(missing_ok=True)
    if not out:
        out.append(f"nothing to clean (no bridge, interface, namespace or recorded process "
                   f"named {PREFIX}*; records in {STATE_DIR})")
    return out
