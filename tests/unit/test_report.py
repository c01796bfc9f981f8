"""Report outputs: table, HTML with plots, compare, list."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from testbed.cli import main
from testbed.report.compare import side_by_side
from testbed.report.table import render


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(__file__).resolve().parents[2]
    out = tmp_path_factory.mktemp("results")
    assert main(["run", "--quiet", "--duration", "600", "--out", str(out),
                 str(root / "scenarios" / "quality-policies.yaml")]) == 0
    (path,) = out.glob("quality-policies/*")
    return path


def test_files_written(run_dir: Path) -> None:
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["schema"] == "testbed.results/1" and doc["mode"] == "sim"
    assert [c["policy"] for c in doc["cells"]] == ["none", "anrt-2016", "throttle-udp", "degrade"]
    calls = (run_dir / "calls-degrade--none.csv").read_text().splitlines()
    assert calls[0].startswith("call_id,intent_id,attempt,t_start") and len(calls) > 50


def test_html_has_table_plots_probes_rules_and_traces(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()
    assert page.count("<img ") == 4 and page.count("data:image/png;base64,") == 4
    assert "throttle-udp" in page and "Expectations" in page
    assert "accessible / degraded ≠" in page                     # the degrade policy: OONI green, calls poor
    doc = json.loads((run_dir / "results.json").read_text())
    assert [r["name"] for r in doc["policies"]["anrt-2016"]["rules"]] == [
        "operator-voice", "ott-calls", "unlicensed-voip", "voip-media"]
    anrt = next(c for c in doc["cells"] if c["policy"] == "anrt-2016")
    hits = anrt["rule_hits"]["anrt-2016/ott-calls"]["calls"]
    with open(run_dir / "calls-anrt-2016--none.csv", newline="") as f:
        assert hits == sum(row["rule"] == "anrt-2016/ott-calls" for row in csv.DictReader(f)) > 50
    assert f"<td>{hits}</td>" in page


def test_compare_same_is_empty_other_seed_differs(run_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    a = run_dir / "results.json"
    assert main(["compare", str(a), str(a)]) == 0
    assert "no differences" in capsys.readouterr().out
    other = json.loads(a.read_text())
    other["cells"][3]["summary"]["median_mos"] = 1.5
    b = tmp_path / "b.json"
    b.write_text(json.dumps(other))
    assert main(["compare", str(a), str(b)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "degrade × none" in line]
    assert len(lines) == 1 and "MOS" in lines[0] and "→ 1.5" in lines[0]


def test_side_by_side_shows_each_cell_of_both_runs(run_dir: Path) -> None:
    """benchmarks/fidelity.py's table: one row a cell, every metric as ``A | B``."""
    a = json.loads((run_dir / "results.json").read_text())
    b = json.loads((run_dir / "results.json").read_text())
    b["cells"][3]["summary"]["mean_loss_pct"] = 12.5
    lines = side_by_side(a, b).splitlines()
    assert len(lines) == 3 + len(a["cells"]) and "loss %" in lines[1] and "MOS" in lines[1]
    degrade = next(line for line in lines if line.startswith("degrade"))
    ours = a["cells"][3]["summary"]["mean_loss_pct"]
    assert f"{ours:.3g} | 12.5" in degrade


def test_compare_rejects_other_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"a": 1}')
    assert main(["compare", str(bad), str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"{bad} schema: not a testbed results.json"


def test_table_alignment() -> None:
    text = render([{"policy": "p", "circumvention": "c", "success_pct": 12.345, "median_mos": None}])
    header, rule, row = text.splitlines()
    assert len(header) == len(rule) and row.startswith("p ")
    assert "12.3" in row and "–" in row


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for section in ("topologies:", "policies:", "traffic profiles:", "circumvention strategies:", "signatures:"):
        assert section in out
    assert "operator_edge" in out and "turn-tcp443" in out
