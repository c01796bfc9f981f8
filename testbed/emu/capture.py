"""A cell's capture: every port of the DPI switches, by one ``dumpcap`` per cell, and what
it takes to measure the DPI on it (``Evidence``).

A packet the DPI forwarded shows twice (in on one port, out on the other); a
packet it dropped shows once. The file is pcapng, which keeps which port saw each
packet (``frame.interface_name``); Wireshark and ``tshark -r`` open it whatever
its name. ``testbed.emu.forwarding`` pairs the two sightings of each packet.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from testbed.dpi.flow import FlowKey
from testbed.emu.forwarding import Passage, passages
from testbed.emu.ofctl import RuleCount
from testbed.emu.state import RunState, stop_processes
from testbed.packets.capture import ReadStats, read_ip_ports

SNAPLEN = 0  # whole packets: the DPI's evidence


class Capture:
    def __init__(self, out: Path, ports: list[str], state: RunState, log: Path | None = None) -> None:
        self.out = out
        self.log = log or out.with_name("dumpcap.log")
        args = ["dumpcap", "-q", "-s", str(SNAPLEN), "-w", str(out)]
        for port in ports:
            args += ["-i", port]
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        state.process(self.proc.pid, f"dumpcap {' '.join(ports)}")
        self._wait_started()

    def _wait_started(self, timeout: float = 10.0) -> None:
        """dumpcap writes the file's header blocks once it listens: wait for that, not a guess."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.out.exists() and self.out.stat().st_size > 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"dumpcap did not start: {self.log.read_text(errors='replace')[-500:]}")

    def stop(self) -> Path:
        """Stop dumpcap (SIGTERM: it writes out what it has and closes the file)."""
        stop_processes([self.proc], timeout=10)
        if self.out.exists():
            self.out.chmod(0o644)   # dumpcap writes 0600: Wireshark as a user should open it
        return self.out


@dataclass(frozen=True)
class Evidence:
    """What a cell leaves to measure the DPI on: its capture (None: capture off), which side
    each captured port faces, and each DPI switch's counters per proactive rule."""

    pcap: Path | None
    sides: dict[str, str]                          # port → forwarding.ACCESS | CORE
    counters: dict[str, dict[int, RuleCount]]      # DPI switch → rule index → its entries' counters

    def passages(self, keys: Iterable[FlowKey]) -> dict[FlowKey, Passage]:
        """The flows' passages through the DPI, from the capture ({} without one)."""
        if self.pcap is None:
            return {}
        stats = ReadStats()
        found = passages(read_ip_ports(self.pcap, stats), self.sides, keys)
        if stats.error:
            raise RuntimeError(f"{self.pcap}: {stats.error}")
        return found
