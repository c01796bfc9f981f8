"""``testbed run --emulate`` end to end: killed with -9 and cleaned up, then run to the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from testbed.emu import clean
from testbed.emu.state import STATE_DIR, alive, records

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TESTBED = [sys.executable, "-m", "testbed.cli"]
SHORT = ["run", "--emulate", "scenarios/morocco-2016-methods.yaml", "--no-html", "--quiet",
         "--duration", "20", "--holding", "5", "--circumventions", "none"]


def _recorded(pid: int) -> list[Any]:
    path = STATE_DIR / f"run-{pid}.jsonl"
    if not path.exists():
        return []
    return [r for r in records() if r.path == path]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Kill a running emulation with -9, clean, then run the short variant to its end."""
    out = tmp_path_factory.mktemp("emu")
    proc = subprocess.Popen([*TESTBED, *SHORT, "--policies", "none", "--out", str(out / "killed")], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not any(p.what == "controller" for r in _recorded(proc.pid) for p in r.procs):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the emulation did not get to its controller"
        time.sleep(0.5)
    time.sleep(4)                                   # calls in flight
    (rec,) = _recorded(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left_before = clean.leftovers()
    done = subprocess.run([*TESTBED, "clean"], cwd=REPO, capture_output=True, text=True)
    left_after = clean.leftovers()
    again = subprocess.run([*TESTBED, "clean"], cwd=REPO, capture_output=True, text=True)
    started = time.monotonic()
    rerun = subprocess.run([*TESTBED, *SHORT, "--policies", "anrt-2016", "--out", str(out / "run")], cwd=REPO,
                           capture_output=True, text=True)
    return {"record": rec, "before": left_before, "clean": done, "after": left_after, "again": again,
            "rerun": rerun, "rerun_s": time.monotonic() - started, "out": out / "run", "killed": out / "killed"}


def _listing() -> dict[str, str]:
    run = lambda *cmd: subprocess.run(cmd, capture_output=True, text=True).stdout  # noqa: E731
    return {"bridges": run("ovs-vsctl", "list-br"), "netns": run("ip", "netns", "list"),
            "links": run("ip", "-o", "link", "show")}


def test_kill_9_then_clean_leaves_nothing_and_a_new_run_works(runs: dict[str, Any]) -> None:
    before = runs["before"]
    assert before["bridges"] and before["links"] and before["processes"]   # kill -9 left all of it
    assert runs["clean"].returncode == 0, runs["clean"].stderr
    assert any("deleted bridge tbdpi1" in line for line in runs["clean"].stdout.splitlines())
    assert runs["after"] == {"processes": [], "bridges": [], "links": [], "namespaces": []}
    listing = _listing()
    assert not [b for b in listing["bridges"].split() if b.startswith("tb")]
    assert not [n for n in listing["netns"].split() if n.startswith("tb")]
    assert not [ln for ln in listing["links"].splitlines() if ln.split(":")[1].strip().startswith("tb")]
    procs = runs["record"].procs
    assert len(procs) > 20 and {"controller", "agent tbwa", "dumpcap tbdpi1-eth1 tbdpi1-eth2"} <= {p.what for p in procs}
    assert not [p for p in procs if alive(p.pid, p.started)]
    assert not list(STATE_DIR.glob("run-*.jsonl")) or all(r.owner_alive for r in records())
    assert runs["again"].returncode == 0 and "nothing to clean" in runs["again"].stdout
    assert runs["rerun"].returncode == 0, runs["rerun"].stderr[-3000:]
    # the killed run's output: only under its hidden name, marked incomplete, never like a result
    (kept,) = (runs["killed"] / "morocco-2016-methods").iterdir()
    assert kept.name.startswith(".") and kept.name.endswith(".incomplete") and (kept / "INCOMPLETE").exists()


def test_short_morocco_run_writes_results_and_a_readable_pcap_per_cell(runs: dict[str, Any]) -> None:
    assert runs["rerun"].returncode == 0, runs["rerun"].stderr[-3000:]
    (result,) = runs["out"].glob("morocco-2016-methods/*/results.json")
    doc = json.loads(result.read_text())
    assert doc["mode"] == "emu" and doc["shaper"] in ("netem", "nfqueue-delayer+iptables-statistic")
    (cell,) = doc["cells"]
    calls = cell["calls"]
    assert calls and all({"loss_pct", "jitter_ms", "delay_ms", "mos", "outcome"} <= set(c) for c in calls)
    completed = [c for c in calls if c["outcome"] == "completed"]
    for c in calls:
        if c["app"] == "sip":                       # the operator's own voice: untouched
            assert c["outcome"] in ("completed", "no-answer"), c
        else:                                       # the OTT apps' calls: blocked by the DPI
            assert c["outcome"] != "completed" and c["action"] == "drop", c
            assert c["ttb_packets"] >= 1 and c["ttb_ms"] >= 0, c   # measured on the DPI's ports
    assert completed, "no operator call in the run"
    for c in completed:
        assert 3.5 < c["mos"] <= 4.5 and c["loss_pct"] < 5 and 15 < c["delay_ms"] < 40, c
    assert cell["summary"]["collateral_pct"] == 0
    hit = sum(c["action"] != "allow" for c in calls)
    assert cell["dpi"]["ttb_measured"] == hit > 0 and cell["dpi"]["proactive_unconfirmed"] == 0
    assert cell["dpi"]["rule_packets"]["tbdpi1 anrt-2016/operator-voice"] > 0   # the SIP calls' proactive allow
    pcap = result.parent / "dpi-anrt-2016--none.pcapng"
    assert doc["emulation"]["pcaps"] == [pcap.name] and pcap.stat().st_size > 0
    read = subprocess.run(["tshark", "-r", str(pcap)], capture_output=True, text=True)
    complaints = [ln for ln in read.stderr.splitlines() if ln.strip() and "Running as user" not in ln]
    assert read.returncode == 0 and not complaints, read.stderr
    frames = read.stdout.splitlines()
    stun = subprocess.run(["tshark", "-r", str(pcap), "-Y", "stun"], capture_output=True, text=True)
    print(f"{pcap.name}: {len(frames)} frames, {len(stun.stdout.splitlines())} STUN; rerun took "
          f"{runs['rerun_s']:.0f} s")
    assert len(frames) > 100
