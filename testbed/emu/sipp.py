"""Real SIP calls with SIPp (Debian's ``sip-tester``): the operator's voice service, and SIP
to a server outside the operator, as referees of what a policy does to SIP.

A UAS (``sipp -sn uas -rtp_echo``) answers on a SIP server host and echoes the caller's RTP;
a UAC in a subscriber host (``sipp -sn uac_pcap``) places calls and plays the G.711 RTP that
SIPp ships (``g711a.pcap``: 8 s of voice, then a DTMF digit) before hanging up. What counts is
SIPp's own statistics — its ``-trace_stat`` CSV's successful and failed calls, and its exit
status (0: every call succeeded).
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.emu.state import stop_processes

SIP_PORT = 5060
ECHO_PORT = 6000
SIPP_PCAPS = Path("/usr/share/sip-tester")     # g711a.pcap and the DTMF pcaps, from the package
RECV_TIMEOUT_MS = 6000                        # a call whose next answer does not come fails
CALL_TIMEOUT_S = 40


@dataclass(frozen=True)
class SippResult:
    exit_code: int
    successful: int
    failed: int
    stats: Path


def uas_args(ip: str, stats: Path) -> list[str]:
    return ["sipp", "-sn", "uas", "-i", ip, "-p", str(SIP_PORT), "-rtp_echo", "-mi", ip, "-mp", str(ECHO_PORT),
            "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1"]


def uac_args(ip: str, server: str, calls: int, stats: Path, port: int = SIP_PORT) -> list[str]:
    return ["sipp", "-sn", "uac_pcap", f"{server}:{SIP_PORT}", "-i", ip, "-p", str(port), "-mi", ip,
            "-m", str(calls), "-l", str(calls), "-r", str(calls), "-recv_timeout", str(RECV_TIMEOUT_MS),
            "-timeout", str(CALL_TIMEOUT_S), "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1"]


def read_stats(path: Path) -> tuple[int, int]:
    """(successful, failed) calls, cumulative, from the last line of a ``-trace_stat`` CSV."""
    rows = [r for r in csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";") if r]
    if len(rows) < 2:
        raise ValueError(f"{path}: no statistics written")
    head, last = rows[0], rows[-1]
    return int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])


class Sipp:
    """SIPp UASs and UACs on a running ``Session``; every process recorded in its run state."""

    def __init__(self, session: Any) -> None:
        self.s = session
        self.dir = session.workdir / "sipp"
        self.dir.mkdir(exist_ok=True)
        pcap = self.dir / "pcap"          # uac_pcap plays "pcap/g711a.pcap", relative to its directory
        if not pcap.exists():
            pcap.symlink_to(SIPP_PCAPS)
        self.servers: dict[str, subprocess.Popen[bytes]] = {}

    def serve(self, host: str) -> None:
        """A UAS on ``host``'s port 5060, echoing RTP on 6000."""
        ip = self.s.ips[host]
        proc = self.s.net.get(host).popen(uas_args(ip, self.dir / f"uas-{host}.csv"), cwd=str(self.dir),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.s.state.process(proc.pid, f"sipp uas on {host}")
        self.servers[host] = proc

    def start_calls(self, host: str, server: str, calls: int = 1, port: int = SIP_PORT) -> tuple[subprocess.Popen[bytes], Path]:
        """A UAC in ``host`` placing ``calls`` calls to the UAS on ``server`` (not waited for)."""
        stats = self.dir / f"uac-{host}-{server}.csv"
        stats.unlink(missing_ok=True)
        proc = self.s.net.get(host).popen(uac_args(self.s.ips[host], self.s.ips[server], calls, stats, port),
                                          cwd=str(self.dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.s.state.process(proc.pid, f"sipp uac on {host} to {server}")
        return proc, stats

    @staticmethod
    def result(proc: subprocess.Popen[bytes], stats: Path) -> SippResult:
        """Wait for a UAC to end and read its statistics."""
        code = proc.wait(timeout=CALL_TIMEOUT_S + 15)
        successful, failed = read_stats(stats)
        return SippResult(code, successful, failed, stats)

    def close(self) -> None:
        stop_processes(self.servers.values())
        self.servers.clear()
