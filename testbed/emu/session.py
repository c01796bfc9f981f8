"""One emulated network for a run: Mininet + OVS, the DPI controller, one traffic agent per
host, link shaping and the DPI's captures — started in order, torn down in reverse on every exit.

Used by the runner (``testbed run --emulate``), the integration tests and the
benchmark::

    with Session(OperatorEdge(), workdir) as s:
        s.set_policies({"tbdpi1": load_policy(resolve("anrt-2016"))})
        reports = s.place([s.spec("tb1s1", "tbwa", plan, hold=5)])
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import socket
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

from testbed.dpi.flow import FlowKey
from testbed.emu import clean, system
from testbed.emu.capture import Evidence
from testbed.emu.mailbox import Mailbox, Timeout, read_lines, run_blocking
from testbed.emu.messages import (
    CONTROLLER_EVENTS,
    Ack,
    AgentReady,
    Command,
    ControllerConfig,
    ControllerEvent,
    Decided,
    Message,
    Quit,
    Reload,
    Reloaded,
    Report,
    Shape,
    SwitchPolicy,
    SwitchReady,
    encode,
)
from testbed.emu.placement import FlowSpec, place
from testbed.emu.shaping import PATH_QUEUE, host_shaping
from testbed.emu.state import RunState, stop_processes
from testbed.policy import compiler
from testbed.policy.model import SECURE, Policy
from testbed.traffic.apps import FlowPlan

READY_TIMEOUT_S = 30.0
CLIENT_PORTS = range(32768, 61000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Session:
    """Build with ``with Session(topo, workdir) as s:``; ``s.set_policies`` before traffic."""

    def __init__(self, topo: Any, workdir: Path, *, capture: bool = True, shaper: str | None = None,
                 log: Any = None) -> None:
        self.topo, self.workdir, self.want_capture, self.want_shaper = topo, workdir, capture, shaper
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.box = Mailbox()
        self.verdicts: dict[FlowKey, Decided] = {}      # the controller's, by the classifier's flow key
        self.events: list[ControllerEvent] = []
        self.policies: dict[str, Policy] = {}
        self.compiled: dict[str, compiler.Compiled] = {}
        self.marks: dict[Any, int] = {}
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.controller: subprocess.Popen[bytes] | None = None
        self.capture: Any = None                 # the running capture (``start_capture``)
        self.sides: dict[str, str] = {}          # each DPI port → the side it faces (forwarding.ACCESS | CORE)
        self._stack = contextlib.ExitStack()
        self._ids = itertools.count(1)
        self._ports: dict[str, itertools.cycle[int]] = {}
        self.box.listeners.append(self._on_message)
        info = {h: topo.nodeInfo(h) for h in topo.hosts()}
        self.ips = {h: str(i["ip"]).split("/")[0] for h, i in info.items()}
        self.host_info = info

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Session:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # Mininet's imports warn about pkg_resources/distutils
            system.require()
            from mininet.log import setLogLevel

            from testbed.emu import net as emunet
        setLogLevel("warning")
        self._clear_leftovers()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state = RunState()
        self._stack.callback(self._forget_state)
        self.shaper = system.delay_shaper(self.want_shaper)
        self.port = _free_port()
        self.dpis = emunet.dpi_switches(self.topo)
        self.log(f"*** Building {len(self.ips)} hosts, {len(self.topo.switches())} OVS bridges "
                 f"(userspace datapath), DPI: {', '.join(self.dpis)}; delay shaper: {self.shaper}")
        self.net = emunet.build(self.topo, {d: SECURE for d in self.dpis}, self.port, self.shaper, self.state,
                                capture=self.want_capture)
        self._stack.callback(self._stop_net)
        self.net.build()
        emunet.configure_hosts(self.net)
        self._start_agents()
        self._stack.callback(self.stop_controller)
        self.net.start()
        emunet.check_bridges(self.net)
        for dpi in self.dpis:
            emunet.tune_controller_link(self.net, dpi)
        if self.want_capture:
            from testbed.emu.forwarding import port_sides

            for dpi in self.dpis:
                self.sides.update(port_sides(emunet.dpi_links(self.net, dpi), self.topo, dpi))
            self._stack.callback(self._end_capture)
        from testbed.emu.probes import ProbeServers  # OONI-like tests' resolver and front ends

        self.probe_servers = ProbeServers(self)
        self._stack.callback(self.probe_servers.stop)
        self.probe_servers.start()
        if threading_main():
            previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
            self._stack.callback(signal.signal, signal.SIGTERM, previous)

    def close(self) -> None:
        self._stack.close()

    def _clear_leftovers(self) -> None:
        found = clean.leftovers()
        if any(found.values()):
            for line in clean.clean():
                self.log(f"*** leftovers of an earlier run: {line}")
            if any(r.owner_alive for r in clean.records()):
                raise system.EmulationUnavailable("another emulation is running (see testbed clean)")

    def _forget_state(self) -> None:
        for line in clean.clean(include_self=True):
            if not line.startswith("nothing"):
                self.log(f"*** clean: {line}")
        self.state.close()

    def _stop_net(self) -> None:
        self.net.stop()
        for ctl in self.net.controllers:   # RemoteController.stop() leaves its shell running
            ctl.terminate()

    # -- captures and counters -------------------------------------------------------------
    def start_capture(self, name: str) -> Path | None:
        """Capture every port of the DPI switches into ``workdir/name`` until ``stop_capture``
        (a session built with ``capture=False`` has nothing to capture on: None)."""
        from testbed.emu.capture import Capture

        self._end_capture()
        if not self.want_capture:
            return None
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        self.capture = Capture(self.workdir / name, sorted(self.sides), self.state,
                               log=logs / f"dumpcap-{Path(name).stem}.log")
        return self.capture.out  # type: ignore[no-any-return]

    def stop_capture(self) -> Evidence:
        """End the capture (if any) and read the DPI switches' counters: what the cell left."""
        from testbed.emu import ofctl

        pcap = self._end_capture()
        counters = {d: ofctl.rule_counters(ofctl.dump_flows(d), compiler.PRIO_VERDICT) for d in self.dpis}
        return Evidence(pcap, dict(self.sides), counters)

    def _end_capture(self) -> Path | None:
        capture, self.capture = self.capture, None
        return capture.stop() if capture is not None else None

    # -- agents ------------------------------------------------------------------------------
    def _start_agents(self) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        for name in sorted(self.ips):
            with open(logs / f"agent-{name}.log", "wb") as err:   # the child keeps its own copy
                proc = self.net.get(name).popen([sys.executable, "-m", "testbed.emu.agent", name],
                                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            self.state.process(proc.pid, f"agent {name}")
            self.agents[name] = proc
            read_lines(proc.stdout, self.box, name)
        self._stack.callback(self._stop_agents)
        keys = tuple((AgentReady, h) for h in self.agents)
        if not self.box.wait(keys, READY_TIMEOUT_S):
            raise Timeout(f"agents did not start: {self.box.missing(keys)} (see {logs})")
        self.box.take(keys)

    def _stop_agents(self) -> None:
        for proc in self.agents.values():
            if proc.poll() is None and proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    proc.stdin.write(encode(Quit()))
                    proc.stdin.close()
        deadline = time.monotonic() + 3
        for proc in self.agents.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.agents.clear()

    def send(self, host: str, cmd: Command) -> None:
        stdin = self.agents[host].stdin
        assert stdin is not None
        stdin.write(encode(cmd))
        stdin.flush()

    # -- controller and policies -----------------------------------------------------------
    def set_policies(self, policies: dict[str, Policy] | Policy, later: tuple[Policy, ...] = ()) -> None:
        """(Re)start the controller with these policies (one for every DPI switch, or per switch).
        ``later``: policies a ``reload`` will bring, so that the hosts' degrade shaping knows their
        marks from the start."""
        from testbed.emu import net as emunet

        policies = self._per_switch(policies)
        if set(policies) != set(self.dpis):
            raise ValueError(f"policies for {sorted(policies)}, DPI switches are {self.dpis}")
        self.stop_controller()
        marks = compiler.degrade_marks([*policies.values(), *later])
        self.marks = marks
        self.policies = dict(policies)
        self.compiled = {d: compiler.compile_policy(p, marks) for d, p in policies.items()}
        for dpi, policy in policies.items():
            emunet.set_fail_mode(self.net, dpi, policy.fail_mode)
        self._start_controller(marks)
        self._shape(marks)

    def _per_switch(self, policies: dict[str, Policy] | Policy) -> dict[str, Policy]:
        return {d: policies for d in self.dpis} if isinstance(policies, Policy) else dict(policies)

    def reload(self, policies: dict[str, Policy] | Policy) -> None:
        """Other policies on the running DPI switches (all of them, or those named), without
        restarting the controller: calls in progress go on, flows already decided keep their
        entries, new flows meet the new rules. Returns when every switch confirmed its new
        pipeline. A degrade action the hosts' shaping did not know yet gets its mark first."""
        from testbed.emu import net as emunet

        policies = self._per_switch(policies)
        unknown = sorted(set(policies) - set(self.dpis))
        if unknown:
            raise ValueError(f"policies for {unknown}, DPI switches are {self.dpis}")
        if self.controller is None:
            raise RuntimeError("reload before set_policies: no controller is running")
        marks = dict(self.marks)
        for policy in policies.values():
            for action in compiler.degrade_marks([policy]):
                if action not in marks:
                    if compiler.DSCP_BASE + len(marks) > 63:
                        raise ValueError(f"more than {64 - compiler.DSCP_BASE} distinct degrade actions")
                    marks[action] = compiler.DSCP_BASE + len(marks)
        if marks != self.marks:
            self.marks = marks
            self._shape(marks)
        ident = f"reload{next(self._ids)}"
        stdin = self.controller.stdin
        assert stdin is not None
        stdin.write(encode(Reload(ident, tuple(SwitchPolicy(self._dpid(d), p) for d, p in policies.items()), marks)))
        stdin.flush()
        for dpi, policy in policies.items():
            if policy.fail_mode != self.policies[dpi].fail_mode:
                emunet.set_fail_mode(self.net, dpi, policy.fail_mode)
            self.policies[dpi] = policy
            self.compiled[dpi] = compiler.compile_policy(policy, marks)
        keys = tuple((Reloaded, ident, self._dpid(d)) for d in policies)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.box.wait(keys, 0.05):
            self.check_alive()
            if time.monotonic() > deadline:
                raise Timeout(f"DPI switches did not confirm the reload: {self.box.missing(keys)}")
        self.box.take(keys)

    def _dpid(self, switch: str) -> str:
        return str(self.topo.nodeInfo(switch)["dpid"])

    def _start_controller(self, marks: dict[Any, int]) -> None:
        config = self.workdir / "controller.json"
        config.write_bytes(encode(ControllerConfig(
            tuple(SwitchPolicy(self._dpid(d), p) for d, p in self.policies.items()), marks)))
        with open(self.workdir / "logs" / "controller.log", "ab") as err:
            self.controller = subprocess.Popen(
                [sys.executable, "-m", "testbed.emu.controller", "--tb-config", str(config),
                 "--ofp-tcp-listen-port", str(self.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err)
        self.state.process(self.controller.pid, "controller")
        read_lines(self.controller.stdout, self.box, "controller")  # type: ignore[arg-type]
        keys = tuple((SwitchReady, self._dpid(d)) for d in self.dpis)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.box.wait(keys, 0.2):
            self.check_alive()
            if time.monotonic() > deadline:
                raise Timeout(f"DPI switches did not connect to the controller: {self.box.missing(keys)}")
        self.box.take(keys)

    def stop_controller(self, kill: bool = False) -> None:
        """End the controller (``kill``: SIGKILL, as a crash would)."""
        proc, self.controller = self.controller, None
        if proc is None:
            return
        stop_processes([proc], kill=kill)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def _on_message(self, msg: Message) -> None:
        if not isinstance(msg, CONTROLLER_EVENTS):
            return
        self.events.append(msg)
        if isinstance(msg, Decided) and msg.verdict.key is not None:
            self.verdicts[msg.verdict.key] = msg

    def check_alive(self) -> None:
        """Fail fast: a dead controller or agent means the results would be wrong."""
        if self.controller is not None and self.controller.poll() is not None:
            log = (self.workdir / "logs" / "controller.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the DPI controller died (exit {self.controller.returncode}):\n{log}")
        for host, proc in self.agents.items():
            if proc.poll() is not None:
                raise RuntimeError(f"agent {host} died (exit {proc.returncode}); "
                                   f"see {self.workdir / 'logs' / f'agent-{host}.log'}")

    def _shape(self, marks: dict[Any, int]) -> None:
        """Each host's delay/loss rules and its agent's NFQUEUE delayer."""
        self.shaping = {h: host_shaping(self.topo, h, self.ips, self.shaper, marks) for h in self.ips}
        waits = []
        for host, shaping in self.shaping.items():
            if shaping.needs_delayer:
                ident = f"shape{next(self._ids)}"
                self.send(host, Shape(ident, PATH_QUEUE, zlib.crc32(host.encode()), shaping.path, shaping.degrade))
                waits.append((Ack, ident))
        if not self.box.wait(tuple(waits), READY_TIMEOUT_S):
            raise Timeout(f"agents did not bind their NFQUEUEs: {self.box.missing(tuple(waits))}")
        self.box.take(tuple(waits))
        for host, shaping in self.shaping.items():
            node = self.net.get(host)
            done = node.popen(["iptables-restore"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
            _, err = done.communicate(shaping.restore_input().encode())
            if done.returncode != 0:
                raise RuntimeError(f"iptables-restore on {host}: {err.decode().strip()}")

    # -- flows ------------------------------------------------------------------------------
    def client_port(self, host: str) -> int:
        ports = self._ports.setdefault(host, itertools.cycle(CLIENT_PORTS))
        return next(ports)

    def spec(self, client: str, server: str, plan: FlowPlan, **options: Any) -> FlowSpec:
        return FlowSpec(f"f{next(self._ids)}", client, server, self.ips[client], self.ips[server],
                        self.client_port(client), plan, **options)

    def place(self, specs: list[FlowSpec]) -> dict[tuple[str, str], Report]:
        """Run flows to their end, blocking; {(flow id, side): report}."""
        return run_blocking(self.box, place(self.send, self.box.take, specs), self.check_alive)  # type: ignore[no-any-return]


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)   # unwinds through every ``finally``: the network is torn down
