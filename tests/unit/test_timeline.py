"""Timelines in simulation: policies that change per operator at a phase's time, per-phase
aggregates, users who adopt a circumvention and forget it after a lift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.cli import main
from testbed.config.phases import ALL
from testbed.config.scenario import load_scenario, overridden
from testbed.policy.model import NO_POLICY
from testbed.run import check_expectations, run_cell, run_scenario
from testbed.timeline import phase_of, split, steps

TIMELINE = """\
name: t
seed: 7
topology: {{name: three_operators, params: {{subscribers: 3}}}}
circumventions:
  none: {{}}
  vpn: {{strategy: vpn, share: 0.6, after_failures: 1, forget_after_s: {forget}}}
workload:
  duration_s: 2400
  calls_per_hour: 3000
  subscribers: 150
  holding: {{distribution: exponential, mean_s: 30}}
  apps: {{whatsapp: {{share: 0.4}}, imo: {{share: 0.3}}, sip: {{share: 0.3}}}}
  flows_per_hour: {{whatsapp_chat: 600}}
phases:
  - {{at_s: 0, date: 2016-01-01, policies: {{all: none}}}}
  - {{at_s: 600, date: 2016-01-07, note: block, policies: {{all: {block}}}}}
  - {{at_s: 1200, date: 2016-05-15, policies: {{iam: anrt-2016}}}}
  - {{at_s: 1800, date: 2016-11-04, note: lift, policies: {{all: none}}}}
expect:
  - {{circumvention: none, phase: 2016-05-15, app: whatsapp, metric: success_pct, max: 25}}
  - {{circumvention: none, phase: 2016-01-01, metric: success_pct, min: 95}}
"""

NO_IMO = """\
name: no-imo
rules:
  - name: calls
    match: {apps: [WhatsAppCall]}
    action: drop
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    (tmp_path / "no-imo.yaml").write_text(NO_IMO)
    path = tmp_path / "t.yaml"
    path.write_text(TIMELINE.format(forget=300, block="no-imo.yaml"))
    return path


def test_steps_carry_each_operators_policy_forward(scenario_file: Path) -> None:
    s = load_scenario(scenario_file)
    assert s.policies == ("timeline",) and s.operators == ("iam", "meditel", "inwi")
    got = [step.names(s.operators) for step in steps(s, "timeline")]
    assert got == [{"iam": "none", "meditel": "none", "inwi": "none"},
                   {"iam": "no-imo", "meditel": "no-imo", "inwi": "no-imo"},
                   {"iam": "anrt-2016", "meditel": "no-imo", "inwi": "no-imo"},   # only iam changed
                   {"iam": "none", "meditel": "none", "inwi": "none"}]
    cell_steps = steps(s, "timeline")
    assert [st.until_s for st in cell_steps] == [600, 1200, 1800, None]
    assert [phase_of(cell_steps, t) for t in (0, 599.9, 600, 1799, 1800, 99999)] == [0, 0, 1, 2, 3, 3]
    assert split((), [], []) == []    # a cell without phases has none to split into
    assert {op: p.name for op, p in cell_steps[0].policies.items()} == {ALL: NO_POLICY.name}


def test_a_phase_changes_only_the_operator_it_names_and_calls_meet_the_policy_of_their_start(
        scenario_file: Path) -> None:
    s = load_scenario(scenario_file)
    cell = run_cell(s, "timeline", "none")
    imo = [c for c in cell.calls if c.app == "imo"]
    # Imo is hit exactly on iam, exactly from 1200 s to the lift (calls are decided at their start)
    hit = {(c.operator, phase_of(tuple(p.step for p in cell.phases), c.t_start)) for c in imo if c.ttb_packets}
    assert hit == {("iam", 2)}
    assert all(c.action == "allow" for c in imo if c.t_start < 1200 or c.t_start >= 1800 or c.operator != "iam")
    # WhatsApp is blocked everywhere from 600 s to the lift
    wa = [c for c in cell.calls if c.app == "whatsapp" and c.outcome != "busy"]
    assert all(bool(c.ttb_packets) == (600 <= c.t_start < 1800) for c in wa)
    # per-phase cells: Imo fails on one operator in three in May, nowhere before
    by_date = {p.step.date: p for p in cell.phases}
    assert by_date["2016-01-07"].per_app["imo"]["success_pct"] == 100
    may = by_date["2016-05-15"].per_app["imo"]
    assert 15 < may["success_pct"] < 85 and 0 < may["hit_pct"] < 60
    assert by_date["2016-01-07"].per_app["whatsapp"]["hit_pct"] > 75   # of attempts, busy ones too
    assert by_date["2016-11-04"].summary["hit_pct"] == 0
    # chat untouched throughout; the phases' intents add up to the cell's
    assert all(p.summary["collateral_pct"] == 0 for p in cell.phases)
    assert sum(p.summary["intents"] for p in cell.phases) == cell.summary["intents"]
    assert sum(p.summary["flows"] for p in cell.phases) == cell.summary["flows"]


def test_adoption_grows_in_the_block_and_falls_after_the_lift(scenario_file: Path) -> None:
    s = load_scenario(scenario_file)
    cell = run_cell(s, "timeline", "vpn")
    adopt = [p.summary["adopters_pct"] for p in cell.phases]
    assert adopt[0] == 0                     # nothing failed yet
    assert adopt[1] > 10 and adopt[2] > 10   # failures made users switch
    assert adopt[3] < adopt[2] / 3           # 600 s after the lift, forget_after_s = 300: most went back
    # ... while users who never forget keep their VPN after the lift
    path = scenario_file.with_name("t2.yaml")
    path.write_text(TIMELINE.format(forget=0, block="no-imo.yaml"))
    kept = [p.summary["adopters_pct"] for p in run_cell(load_scenario(path), "timeline", "vpn").phases]
    assert kept[3] >= kept[2] > 10
    # adopters' calls get through the block: OTT success in the block is higher with the VPN
    none = run_cell(s, "timeline", "none")
    assert cell.phases[1].summary["ott_success_pct"] > none.phases[1].summary["ott_success_pct"] + 10


def test_expectations_read_the_phase_and_the_app(scenario_file: Path) -> None:
    s = load_scenario(scenario_file)
    cells = run_scenario(s)
    checks = check_expectations(s, cells)
    assert [k.ok for k in checks] == [True, True]
    may = next(p for p in cells[0].phases if p.step.date == "2016-05-15")
    assert checks[0].value == may.per_app["whatsapp"]["success_pct"]
    assert str(checks[0]).startswith("ok   line 20: timeline × none, 2016-05-15, whatsapp: success_pct = ")


def test_duration_override_compresses_the_timeline(scenario_file: Path) -> None:
    s = overridden(load_scenario(scenario_file), duration_s=240)
    assert [p.at_s for p in s.phases] == [0, 60, 120, 180]
    assert [p.date for p in s.phases] == ["2016-01-01", "2016-01-07", "2016-05-15", "2016-11-04"]


def test_results_json_csv_and_compare_carry_the_phases(scenario_file: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    outs = []
    for seed in ("7", "8"):
        html = [] if seed == "7" else ["--no-html"]
        assert main(["run", "--quiet", *html, "--out", str(tmp_path / seed), "--seed", seed,
                     str(scenario_file)]) == 0
        outs.append(next((tmp_path / seed / "t").iterdir()))
    text = capsys.readouterr().out
    assert text.count("\nphase ") == 2 * 4 and "iam: anrt-2016 · meditel: no-imo · inwi: no-imo" in text
    doc = json.loads((outs[0] / "results.json").read_text())
    assert [p["phase"] for p in doc["phases"]] == ["2016-01-01", "2016-01-07", "2016-05-15", "2016-11-04"]
    cell = doc["cells"][0]
    assert [p["policies"]["iam"] for p in cell["phases"]] == ["none", "no-imo", "anrt-2016", "none"]
    assert doc["expect"][0]["phase"] == "2016-05-15" and doc["expect"][0]["app"] == "whatsapp"
    report = (outs[0] / "report.html").read_text()
    assert "<h2>Phases</h2>" in report and all(f"<h3>{p['phase']} (from " in report for p in doc["phases"])
    assert "<p>iam: anrt-2016, meditel: no-imo, inwi: no-imo</p>" in report
    header, *rows = (outs[0] / "calls-timeline--none.csv").read_text().splitlines()
    assert header.endswith(",phase")
    assert {r.rsplit(",", 1)[1] for r in rows} == {p["phase"] for p in doc["phases"]}
    assert main(["compare", str(outs[0] / "results.json"), str(outs[1] / "results.json")]) == 0
    diff = capsys.readouterr().out
    assert "timeline × none @ 2016-05-15" in diff and "success %" in diff


def test_a_duration_override_from_the_command_line_or_a_sweep_compresses_too(scenario_file: Path) -> None:
    from testbed.config.overrides import Override, parse_value

    s = load_scenario(scenario_file, [Override("workload.duration_s", 1200, "--duration")])
    assert [p.at_s for p in s.phases] == [0, 300, 600, 900]
    s = load_scenario(scenario_file, [Override("workload.duration_s", parse_value("240", "--vary"), "--vary")])
    assert [p.at_s for p in s.phases] == [0, 60, 120, 180]
    # a phase set explicitly keeps its value
    s = load_scenario(scenario_file, [Override("workload.duration_s", 240, "t"), Override("phases[2].at_s", 100, "t")])
    assert [p.at_s for p in s.phases] == [0, 60, 100, 180]


def test_a_sweep_varying_the_duration_compresses_the_timeline(scenario_file: Path) -> None:
    from testbed.sweep.vary import sweep_points

    _, points = sweep_points(scenario_file, ["workload.duration_s=1200,2400"])
    assert [[p.at_s for p in point.scenario.phases] for point in points] == [[0, 300, 600, 900],
                                                                             [0, 600, 1200, 1800]]
