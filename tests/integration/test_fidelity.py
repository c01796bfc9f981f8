"""Simulation against emulation on the same short scenario, same seed, same arrivals (root).

Four cells of scenarios/fidelity.yaml (anrt-2016 and degrade × direct and OpenVPN over TCP
443, 1% access loss, at least 60 attempts a cell), run in both modes. Where the two differ,
the model is fixed (either side), never the thresholds: success within 5 points, median MOS
within 0.3, and median PDD within 20% where both modes completed at least 20 calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.config.scenario import load_scenario, overridden
from testbed.emu.run import emulated_runner
from testbed.run import run_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "fidelity.yaml"
pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_simulation_answers_to_the_emulation(tmp_path: Path) -> None:
    scenario = overridden(load_scenario(SCENARIO), duration_s=40, policies=("anrt-2016", "degrade"),
                          circumventions=("none", "vpn-tcp443"))
    sim = {(c.policy, c.circumvention): c for c in run_scenario(scenario)}
    with emulated_runner(scenario, tmp_path) as runner:
        emu = {(c.policy, c.circumvention): c for c in run_scenario(scenario, runner=runner.run_cell)}
    rows = []
    for key, s in sim.items():
        e = emu[key].summary
        rows.append(f"{key}: success {s.summary['success_pct']} | {e['success_pct']}, MOS {s.summary['median_mos']} | "
                    f"{e['median_mos']}, PDD {s.summary['median_pdd_ms']} | {e['median_pdd_ms']}, "
                    f"attempts {s.summary['attempts']} | {e['attempts']}")
    print("\n".join(rows))
    for key, s in sim.items():
        a, b = s.summary, emu[key].summary
        assert a["attempts"] == b["attempts"] >= 60, key            # the same arrivals in both modes
        assert abs(a["success_pct"] - b["success_pct"]) <= 5, rows
        if a["median_mos"] is not None or b["median_mos"] is not None:
            assert a["median_mos"] is not None and b["median_mos"] is not None, rows
            assert abs(a["median_mos"] - b["median_mos"]) <= 0.3, rows
        completed = [sum(c.outcome == "completed" for c in cell.calls) for cell in (s, emu[key])]
        if min(completed) >= 20:
            assert abs(a["median_pdd_ms"] - b["median_pdd_ms"]) <= 0.2 * a["median_pdd_ms"], rows
