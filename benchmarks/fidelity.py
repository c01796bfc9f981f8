"""The simulator answers to the emulator: scenarios/fidelity.yaml run in both modes, side by side.

The same seed, so the same arrivals (common random numbers): every policy action (none,
drop, throttle, degrade) × every way of carrying a call (direct, OpenVPN over UDP and TCP
443, TURN over TCP 443), about 100 attempts a cell, 1% access loss. Both runs go through
``testbed run`` as a user would; their results.json stay in --out. Root; real time (about
half an hour for the whole matrix).

    sudo .venv/bin/python benchmarks/fidelity.py [--policies a,b] [--circumventions c,d] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from testbed.report.compare import side_by_side

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "fidelity.yaml"


def run(mode: list[str], out: Path, cells: list[str]) -> dict:  # type: ignore[type-arg]
    """One ``testbed run`` of the scenario; its results.json."""
    before = set(out.glob("fidelity/*/results.json"))
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "testbed.cli", "run", *mode, "--quiet", "--no-html", "--out", str(out),
                    *cells, str(SCENARIO)], check=True, stdout=subprocess.DEVNULL)
    path = next(iter(set(out.glob("fidelity/*/results.json")) - before))
    print(f"{' '.join(mode) or 'simulation'}: {time.monotonic() - started:.0f} s → {path}", file=sys.stderr)
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policies", help="only these of the scenario's policies (comma-separated)")
    p.add_argument("--circumventions", help="only these of its circumventions")
    p.add_argument("--out", default="results/fidelity-bench", help="where both runs' results go")
    args = p.parse_args()
    out = Path(args.out)
    cells = [f"--{k}={v}" for k, v in (("policies", args.policies), ("circumventions", args.circumventions)) if v]
    sim = run([], out, cells)
    emu = run(["--emulate"], out, cells)
    print("A: simulation | B: emulation (success %, median and p10 MOS, median PDD, mean loss %, median TTB)")
    print(side_by_side(sim, emu), end="")
    attempts = {(c["policy"], c["circumvention"]): c["summary"]["attempts"] for c in emu["cells"]}
    print(f"attempts per cell (emulation): min {min(attempts.values())}, max {max(attempts.values())}")


if __name__ == "__main__":
    main()
