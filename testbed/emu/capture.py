"""The pcap of a run: tcpdump on every port of the DPI switches, merged into ``dpi.pcap``.

A packet the DPI forwarded shows twice (in on one port, out on the other); a
packet it dropped shows once. The merged file is pcapng (it keeps which port saw
each packet); Wireshark and ``tshark -r`` open it whatever its name.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from testbed.emu.state import RunState

SNAPLEN = 0  # whole packets: the DPI's evidence


class Capture:
    def __init__(self, out: Path, ports: list[str], state: RunState) -> None:
        self.out = out
        self.parts = [out.with_name(f"{out.stem}-{port}.pcap") for port in ports]
        self.procs: list[subprocess.Popen[bytes]] = []
        for port, part in zip(ports, self.parts):
            proc = subprocess.Popen(["tcpdump", "-q", "-n", "-U", "-s", str(SNAPLEN), "-i", port,
                                     "-w", str(part)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            state.process(proc.pid, f"tcpdump {port}")
            self.procs.append(proc)
        self._wait_started()

    def _wait_started(self, timeout: float = 5.0) -> None:
        """tcpdump writes the file header once it listens: wait for that, not a guess."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.exists() and p.stat().st_size > 0 for p in self.parts):
                return
            if any(proc.poll() is not None for proc in self.procs):
                break
            time.sleep(0.05)
        raise RuntimeError(f"tcpdump did not start on {', '.join(str(p) for p in self.parts)}")

    def stop(self) -> Path | None:
        """Stop tcpdump (it flushes on SIGTERM) and merge the ports into one file."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        parts = [p for p in self.parts if p.exists()]
        if not parts:
            return None
        subprocess.run(["mergecap", "-w", str(self.out), *map(str, parts)], check=True,
                       capture_output=True)
        for part in parts:
            part.unlink()
        return self.out
