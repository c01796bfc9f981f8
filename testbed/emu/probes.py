"""OONI-like tests in the emulation: their servers, served for real, and their client.

At the session's start (``ProbeServers``) the topology's resolver answers DNS from the
tests' records and each front end serves TCP, TLS and HTTP on the tests' ports, with a
certificate made now by ``openssl`` for every name the front end answers (ECDSA P-256,
one day), in the run's private directory next to its state record — never in the
results, never in the repository; removed when the session ends. Their PIDs are recorded
(``testbed clean`` stops them after a crash).

``reach`` runs a test's client (``testbed.probe.client``) in a subscriber's namespace: its
packets cross the DPI switch like any subscriber's. What the DPI decided on each of its
flows is the controller's verdict, or the proactive rule its 5-tuple matches.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import simpy

from testbed.dpi.flow import FlowKey
from testbed.dpi.rules import action_text
from testbed.emu.mailbox import Timeout
from testbed.emu.messages import ReachItem, ReachRequest, ReachResults, Zone, decode, encode
from testbed.emu.state import stop_processes
from testbed.packets.ip import TCP, UDP, addr_bytes
from testbed.policy import compiler
from testbed.probe import ooni
from testbed.probe.reach import ReachPlan, decision_text

READY_TIMEOUT_S = 15.0
STEP_TIMEOUT_S = 3.0          # per operation: a dropped SYN or ClientHello fails after this
POLL_S = 0.05
CERT_DAYS = "1"


def _private_dir(state: Any) -> Path:
    """The run's private directory (``run-<pid>.d`` beside its state record), mode 0700."""
    directory = Path(state.path).with_suffix(".d")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def make_certificate(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` (subjectAltName) and its key; the clients trust it."""
    cert, key = directory / "probe-frontend.crt", directory / "probe-frontend.key"
    san = ",".join(f"DNS:{n}" for n in names)
    done = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-keyout", str(key), "-out", str(cert), "-days", CERT_DAYS,
                           "-subj", "/CN=tb-probe-frontend", "-addext", f"subjectAltName={san}",
                           "-addext", "basicConstraints=critical,CA:TRUE"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl req failed: {done.stderr.strip()[-500:]}")
    key.chmod(0o600)
    return cert, key


def frontend_ports(app: str) -> list[int]:
    test = ooni.TESTS[app]
    return sorted({t.port for t in test.targets if t.kind != ooni.DNS})


class ProbeServers:
    """The resolver and the front ends of a running session's network."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.directory: Path | None = None
        self.cafile: Path | None = None
        info = session.host_info
        self.resolver = ooni.resolver(info)
        self.records = ooni.zone(info)

    def start(self) -> None:
        info, session = self.session.host_info, self.session
        if self.resolver is None:
            return
        self.directory = _private_dir(session.state)
        self.cafile, key = make_certificate(self.directory, sorted(self.records))
        zone = self.directory / "zone.json"
        zone.write_bytes(encode(Zone(self.records)))
        logs = session.workdir / "logs"
        for host, i in sorted(info.items()):
            if i.get("role") == "resolver":
                args = ["resolver", str(zone)]
            elif i.get("role") == "frontend" and any(a in ooni.TESTS for a in i.get("fronts", ())):
                ports = sorted({p for a in i["fronts"] if a in ooni.TESTS for p in frontend_ports(a)})
                args = ["frontend", str(self.cafile), str(key), *map(str, ports)]
            else:
                continue
            with open(logs / f"probe-{host}.log", "wb") as err:
                proc = session.net.get(host).popen([sys.executable, "-m", "testbed.probe.serve", *args],
                                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            session.state.process(proc.pid, f"probe server {host}")
            self.procs[host] = proc
        deadline = time.monotonic() + READY_TIMEOUT_S
        for host, proc in self.procs.items():
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready or proc.stdout.readline().strip() != b"ready":
                raise Timeout(f"probe server on {host} did not start (see {logs / f'probe-{host}.log'})")

    def stop(self) -> None:
        stop_processes(self.procs.values(), timeout=3)
        self.procs.clear()
        if self.directory is not None:
            for name in ("probe-frontend.crt", "probe-frontend.key", "zone.json"):
                (self.directory / name).unlink(missing_ok=True)
            if not any(self.directory.iterdir()):
                shutil.rmtree(self.directory, ignore_errors=True)


def _trace(session: Any, key: FlowKey, what: str, server: str, port: int, operator: str) -> str:
    found = session.verdicts.get(key)
    if found is not None:
        return f"{what} to {server}:{port}: {decision_text(found.verdict)}"
    compiled = next((c for d, c in session.compiled.items()
                     if str(session.topo.nodeInfo(d).get("operator", "")) == operator), None)
    rule = compiler.proactive_rule(compiled, key) if compiled is not None else None
    if rule is None:
        return f"{what} to {server}:{port}: no verdict (passed on the switch's entries)"
    return (f"{what} to {server}:{port}: packet 1: addresses and ports (an OpenFlow entry) → rule "
            f"{rule.label(compiled.policy.name)} → {rule.action} ({action_text(rule.action)})")  # type: ignore[union-attr]


def reach(env: simpy.Environment, session: Any, host: str, operator: str,
          plan: ReachPlan) -> Generator[Any, Any, tuple[ooni.Reached, ...]]:
    """Run the test's client on ``host`` (real DNS, TCP, TLS through the DPI); wait in SimPy time."""
    servers: ProbeServers = session.probe_servers
    client_ip = session.ips[host]
    targets = plan.test.targets
    items = tuple(ReachItem(t, session.client_port(host), session.client_port(host)) for t in targets)
    request = ReachRequest(plan.resolver, str(servers.cafile), STEP_TIMEOUT_S, items)
    # files, not pipes: nothing the client writes can block it while we wait in SimPy time
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        stdin.write(encode(request))
        stdin.seek(0)
        proc = session.net.get(host).popen([sys.executable, "-m", "testbed.probe.client"], stdin=stdin,
                                           stdout=stdout, stderr=stderr)
        session.state.process(proc.pid, f"probe client {host}")
        deadline = time.monotonic() + 6 * STEP_TIMEOUT_S + 10
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise Timeout(f"probe client on {host} did not finish")
            yield env.timeout(POLL_S)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"probe client on {host} failed: {err.decode(errors='replace')[-1000:]}")
    answer = decode(out)
    if not isinstance(answer, ReachResults) or len(answer.results) != len(items):
        raise RuntimeError(f"probe client on {host}: not one result a target: {out[:200]!r}")
    found = []
    for target, item, result in zip(targets, items, answer.results):
        trace = []
        if not target.literal:
            key = (UDP, addr_bytes(client_ip), item.dns_port, addr_bytes(plan.resolver), 53)
            trace.append(_trace(session, key, "resolve", plan.resolver, 53, operator))
        if result.address and target.kind != ooni.DNS:
            key = (TCP, addr_bytes(client_ip), item.tcp_port, addr_bytes(result.address), target.port)
            trace.append(_trace(session, key, target.kind, result.address, target.port, operator))
        found.append(ooni.Reached(target, result.address, result.failed_operation, result.failure, tuple(trace)))
    return tuple(found)
