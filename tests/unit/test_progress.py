"""Run progress: a bar on a terminal; off a terminal one line per cell (or phase), whatever the updates."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from testbed.report.progress import Progress, stage_of

ROOT = Path(__file__).resolve().parents[2]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _feed(progress: Progress, cells: int, updates: int) -> None:
    for i in range(cells):
        for k in range(updates):
            progress.update(i, cells, f"p{i} × none", k / (updates - 1))
        for left in (3, 2, 1):   # the emulation's "calls still finishing" notes
            progress.update(i, cells, f"p{i} × none ({left} calls finishing)", 1.0)
    progress.done()


def test_off_a_terminal_one_line_per_cell() -> None:
    out = io.StringIO()
    _feed(Progress(stream=out), cells=4, updates=500)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5, lines
    assert [line.split(":")[0] for line in lines[:4]] == [f"[{i + 1}/4] p{i} × none" for i in range(4)]
    assert all(" done in " in line for line in lines[:4]) and lines[4].startswith("*** done in")
    assert "\r" not in out.getvalue()


def test_a_phase_is_a_stage_of_its_own() -> None:
    out = io.StringIO()
    progress = Progress(stream=out)
    for phase in ("2016-01-07", "2016-05-15", "2016-11-04"):
        for k in range(100):
            progress.update(0, 1, f"p × c · {phase}", k / 99)
    progress.done()
    assert [line.split(":")[0] for line in out.getvalue().splitlines()[:3]] == [
        f"[1/1] p × c · {p}" for p in ("2016-01-07", "2016-05-15", "2016-11-04")]


def test_on_a_terminal_a_bar_redrawn_in_place() -> None:
    out = Tty()
    _feed(Progress(stream=out), cells=2, updates=50)
    text = out.getvalue()
    assert text.count("\r") > 50 and text.count("\n") == 1 and "|" + "#" * 30 + "|" in text


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    _feed(Progress(enabled=False, stream=out), cells=2, updates=10)
    assert out.getvalue() == ""


def test_stage_drops_the_note() -> None:
    assert stage_of("none × vpn (12 calls finishing)") == "none × vpn"
    assert stage_of("none × vpn") == "none × vpn"


def test_a_piped_run_logs_a_line_per_cell(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "testbed.cli", "run", "--no-html", "--duration", "300",
                           "--out", str(tmp_path), str(ROOT / "scenarios" / "quality-policies.yaml")],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    lines = done.stderr.splitlines()
    assert len(lines) == 5 and all(" done in " in line for line in lines), done.stderr
