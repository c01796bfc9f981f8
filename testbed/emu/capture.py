"""The pcap of a run: every port of the DPI switches, captured by one ``dumpcap``.

A packet the DPI forwarded shows twice (in on one port, out on the other); a
packet it dropped shows once. The file is pcapng, which keeps which port saw each
packet (``frame.interface_name``); Wireshark and ``tshark -r`` open it whatever
its name.
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
        self.log = out.with_name("dumpcap.log")
        args = ["dumpcap", "-q", "-s", str(SNAPLEN), "-w", str(out)]
        for port in ports:
            args += ["-i", port]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
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
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.out.exists():
            self.out.chmod(0o644)   # dumpcap writes 0600: Wireshark as a user should open it
        return self.out
