"""``testbed demo --emulate``: the shipped lesson on real packets, and the console in a real terminal.

The lesson's story holds on the emulated network as in simulation (the outcomes, not the
text): a WhatsApp call passes, is dropped at its first packet under anrt-2016 while the
chat passes and the operator's SIP call completes, comes back through a real OpenVPN
tunnel, and is stopped again under vpn-fingerprint, whose DPI drops the tunnel's handshake;
the flows' packets are measured at the callee's side (a tunnel's handshake: on the DPI's
ports). Driven through tmux (``send-keys`` / ``capture-pane``), the console takes
commands, completes ``ca<Tab>`` to ``call``, recalls the last command with the Up key,
leaves cleanly on ``quit``, on Ctrl-D and when its terminal goes away, and ``testbed clean``
then finds nothing of ours.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dpkt
import pytest

from testbed.demo.emu import INSIDE
from testbed.demo.transcript import outcomes
from testbed.emu import clean
from testbed.packets import ip, stun
from tests.unit.test_demo import LESSON, STORY

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TESTBED = [sys.executable, "-m", "testbed.cli"]
PROMPT = r"^demo>$"     # as capture-pane shows it: trailing spaces dropped
MEASURED = re.compile(r"measured: (\d+) of (\d+) packets (?:reached the far end|got past the DPI)")


def _nothing_left() -> None:
    assert not any(clean.leftovers().values()), clean.leftovers()
    done = subprocess.run([*TESTBED, "clean"], capture_output=True, text=True, cwd=REPO, timeout=60, check=True)
    assert done.stdout.startswith("nothing to clean"), done.stdout


def test_the_lesson_on_the_emulated_network() -> None:
    done = subprocess.run([*TESTBED, "demo", "--emulate", "--script", str(LESSON)], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert outcomes(done.stdout) == STORY
    blocks = done.stdout.split("demo> ")[1:]
    calls = [b for b in blocks if b.startswith(("call", "chat"))]
    assert len(calls) == len(STORY)
    for block, (_, word) in zip(calls, STORY):
        counts = [(int(a), int(b)) for a, b in MEASURED.findall(block)]
        assert counts, block
        received, sent = sum(got for got, _ in counts), sum(n for _, n in counts)
        if word == "blocked":    # dropped from the packet that named it: at most the ones before got through
            # (the packet counts both ways: the deciding one may be the server's, as a tunnel's is)
            decided = int(re.findall(r"DPI: packet (\d+)", block)[0])
            assert received < decided and received < sent, block
        elif block.startswith("chat"):
            assert received == sent > 0, block
        else:                    # media both ways for 5 s: 250 packets a way at 20 ms; a good MOS
            assert received >= 0.95 * sent > 200, block
            assert float(re.findall(r"MOS (\d\.\d\d)", block)[0]) >= 4.0, block
    # through the VPN: the real tunnel first, up under anrt-2016, the call inside it; under
    # vpn-fingerprint the tunnel's handshake is dropped and it never comes up
    restored, again = calls[4], calls[5]
    assert re.search(r"flow 1 tunnel UDP 10\.10\.0\.\d+:25\d\d\d → 198\.51\.100\.10:1194", restored), restored
    assert "the tunnel is up in" in restored and "DPI: packet 2: OpenVPN" in restored and INSIDE in restored
    assert "rule vpn-fingerprint/openvpn-fingerprint → drop" in again and "no tunnel after" in again, again
    assert INSIDE not in again
    # trace on: each traced flow shows every packet the DPI inspected, up to the one that decided
    traced = done.stdout.split("demo> trace on", 1)[1]
    for flow in re.split(r"\n  (?=flow \d)", traced)[1:]:
        decided = re.search(r"DPI: packet (\d+):", flow)
        if decided:
            assert f"inspected ({decided[1]}):" in flow, flow
    # the blocked call's one inspected packet, decoded from the DPI's ports
    assert re.search(r"│ +1 +0\.000000 +10\.10\.0\.\d+:\d+ +157\.240\.1\.60:3478 +STUN .*0x4000", done.stdout)
    _nothing_left()


class Terminal:
    """A tmux server of our own (its own socket) running one command in a pane."""

    def __init__(self, name: str, command: str, env: dict[str, str]) -> None:
        self.socket = f"tb-demo-test-{os.getpid()}-{name}"
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        script = f"cd {REPO} && env {exports} {command}; echo EXITED $?; sleep 300"
        self.tmux("new-session", "-d", "-s", "demo", "-x", "200", "-y", "50", script)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "demo", "-S", "-200")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "demo", *keys)

    def wait(self, pattern: str, timeout: float = 60.0, *, last: bool = False) -> str:
        """The screen once ``pattern`` is on it (``last``: on its last line, where the cursor is)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            rows = [row for row in text.splitlines() if row.strip()]
            if re.search(pattern, rows[-1] if last and rows else text, re.M):
                return text
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def _gone(timeout: float = 60.0) -> None:
    """Wait for the demo's run to end by itself (nobody else's run is alive: the tests hold the lock)."""
    deadline = time.monotonic() + timeout
    while any(r.owner_alive for r in clean.records()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(r.owner_alive for r in clean.records())


@pytest.mark.parametrize("leave", ["quit", "C-d", "hang-up"])
def test_the_console_in_a_terminal(leave: str, tmp_path: Path) -> None:
    term = Terminal(leave.replace("-", ""), f"{sys.executable} -m testbed.cli demo --emulate",
                    {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")})
    try:
        term.wait(PROMPT, last=True)
        term.keys("ca", "Tab")
        term.wait(r"^demo> call$", 5, last=True)     # (capture-pane drops the space after it)
        term.keys("tb1s1 whats", "Tab", "Enter")
        text = term.wait(r"outcome: .* → PASSED")
        assert "demo> call tb1s1 whatsapp" in text and "measured:" in text
        term.wait(PROMPT, last=True)
        term.keys("Up")
        term.wait(r"^demo> call tb1s1 whatsapp$", 5, last=True)
        term.keys("C-u", "policy anrt-2016", "Enter")
        term.wait("^policy anrt-2016 in force")
        pcap = tmp_path / "dpi.pcap"
        term.keys(f"capture {pcap}", "Enter")
        count = int(term.wait(rf"^{pcap}: \d+ packets").split(f"{pcap}: ")[1].split()[0])
        if leave == "hang-up":     # the teacher closes the terminal window: SIGHUP
            term.close()
            _gone()
        else:
            term.keys(*(["quit", "Enter"] if leave == "quit" else ["C-d"]))
            term.wait(r"^EXITED 0$", 60)
    finally:
        term.close()
        _gone()          # a failed test's demo gets SIGHUP: wait for its teardown before the next test
    assert "call tb1s1 whatsapp" in (tmp_path / "state" / "testbed" / "demo_history").read_text()
    # what the DPI saw: the call's packets once each (a forwarded packet shows on two ports), both ways
    with open(pcap, "rb") as f:
        packets = [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]
    assert len(packets) == count and 450 <= count <= 650     # 5 s of media at 20 ms each way, and the STUN
    first = ip.parse_ip(packets[0][1])
    assert first is not None and first.dport == 3478 and stun.parse(first.payload) is not None
    assert [ts for ts, _ in packets] == sorted(ts for ts, _ in packets)
    _nothing_left()
