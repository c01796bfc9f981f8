"""Every scenario, simulated, against its committed golden summary (as SimPy tests its examples).

After an intended change: ``UPDATE_GOLDEN=1 pytest tests/unit/test_golden.py`` rewrites them;
review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testbed.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_matches_golden(scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "--quiet", "--no-html", "--out", str(tmp_path), str(scenario)])
    out = capsys.readouterr().out
    summary = out[:out.index("\nresults: ")]
    golden = scenario.with_suffix(".out")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(summary)
    assert golden.exists(), f"no golden summary {golden.name}: run with UPDATE_GOLDEN=1"
    assert summary == golden.read_text()


def test_every_scenario_has_a_golden() -> None:
    assert SCENARIOS
    assert all(p.with_suffix(".out").exists() for p in SCENARIOS)
