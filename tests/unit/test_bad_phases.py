"""Bad input in the timeline fields (phases, per-operator policies, expect's app and phase,
forget_after_s): one line naming file, YAML path and line; exit 2; nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.cli import main

PHASED = """\
name: x
seed: 1
topology: {{name: three_operators, params: {{subscribers: 1}}}}
circumventions:
  none: {{}}
  vpn: {{strategy: vpn, share: 0.5, after_failures: 1{forget}}}
workload:
  duration_s: 600
  calls_per_hour: 100
  subscribers: 10
  apps: {{whatsapp: {{share: 0.5}}, sip: {{share: 0.5}}}}
  flows_per_hour: {{game: 10}}
phases:
  - {{at_s: {at0}, date: {date0}, policies: {{all: anrt-2016}}}}
  - {{at_s: {at1}, date: 2016-05-15, policies: {{{op}: none}}}}
{extra}"""


def phased(at0: str = "0", date0: str = "2016-01-07", at1: str = "300", op: str = "iam", forget: str = "",
           extra: str = "") -> str:
    return PHASED.format(at0=at0, date0=date0, at1=at1, op=op, forget=forget, extra=extra)


STATIC = phased()[:phased().index("phases:")] + "policies: [none]\n"
EXPECT = "expect:\n  - {{circumvention: none, metric: {metric}, max: 5{more}}}\n"

CASES = [
    (phased(at0="10"),
     "scenarios/x.yaml:14 phases[0].at_s: the first phase starts at 0, got 10"),
    (phased(at1="0"),
     "scenarios/x.yaml:15 phases[1].at_s: expected a time after phases[0]'s 0, got 0"),
    (phased(at1="600"),
     "scenarios/x.yaml:15 phases[1].at_s: starts after the last call arrival (workload.duration_s is 600)"),
    (phased(at1="-5"),
     "scenarios/x.yaml:15 phases[1].at_s: expected a number in [0, 315360000], got -5"),
    (phased(date0="2016-06-01"),
     "scenarios/x.yaml:15 phases[1].date: expected a date after phases[0]'s 2016-06-01, got 2016-05-15"),
    (phased(date0="2016-13-01"),
     "scenarios/x.yaml:14 phases[0].date: expected a date like 2016-01-07, got '2016-13-01' "
     "(month must be in 1..12)"),
    (phased(date0="'May 2016'"),
     "scenarios/x.yaml:14 phases[0].date: expected a date like 2016-01-07, got 'May 2016' "
     "(Invalid isoformat string: 'May 2016')"),
    (phased(date0="2016-01-07 10:00:00"),
     "scenarios/x.yaml:14 phases[0].date: expected a date like 2016-01-07, got 2016-01-07 10:00:00 "
     "(a date without a time)"),
    (phased(op="maroc-telecom"),
     "scenarios/x.yaml:15 phases[1].policies.maroc-telecom: unknown operator 'maroc-telecom' – choose one of "
     "[all, iam, meditel, inwi]"),
    (phased().replace("{iam: none}", "{iam: nope}"),
     "scenarios/x.yaml:15 phases[1].policies.iam: unknown policy 'nope' – choose one of [...] or give a file path"),
    (phased().replace("{iam: none}", "{iam: [none]}"),
     "scenarios/x.yaml:15 phases[1].policies.iam: expected a string, got a list"),
    (phased().replace("date: 2016-05-15, ", ""),
     "scenarios/x.yaml:15 phases[1]: missing required key 'date'"),
    (phased().replace("policies: {iam: none}", "policy: {iam: none}"),
     "scenarios/x.yaml:15 phases[1].policy: unknown key 'policy' – choose one of [at_s, date, policies, note]"),
    (phased().replace("phases:\n", "policies: [none]\nphases:\n"),
     "scenarios/x.yaml:15 phases: give policies (cells to compare) or phases (a timeline), not both"),
    (phased().replace("phases:\n  - {at_s: 0, date: 2016-01-07, policies: {all: anrt-2016}}\n"
                      "  - {at_s: 300, date: 2016-05-15, policies: {iam: none}}\n", "phases: []\n"),
     "scenarios/x.yaml:13 phases: expected at least 1 item, got 0"),
    (phased().replace("phases:\n  - {at_s: 0, date: 2016-01-07, policies: {all: anrt-2016}}\n"
                      "  - {at_s: 300, date: 2016-05-15, policies: {iam: none}}\n", ""),
     "scenarios/x.yaml:1: missing required key 'policies' (or 'phases', a timeline)"),
    (phased(forget=", forget_after_s: -1"),
     "scenarios/x.yaml:6 circumventions.vpn.forget_after_s: expected a number in [0, 315360000], got -1"),
    (phased(forget=", forget_after_s: soon"),
     "scenarios/x.yaml:6 circumventions.vpn.forget_after_s: expected a number in [0, 315360000], got 'soon'"),
    # expect: app and phase
    (phased(extra=EXPECT.format(metric="success_pct", more=", phase: 2016-02-26")),
     "scenarios/x.yaml:17 expect[0].phase: no phase dated 2016-02-26 – choose one of [2016-01-07, 2016-05-15]"),
    (phased(extra=EXPECT.format(metric="success_pct", more=", phase: soon")),
     "scenarios/x.yaml:17 expect[0].phase: expected a date like 2016-01-07, got 'soon' "
     "(Invalid isoformat string: 'soon')"),
    (phased(extra=EXPECT.format(metric="success_pct", more=", policy: anrt-2016")),
     "scenarios/x.yaml:17 expect[0].policy: this scenario has phases: its policies come from them "
     "(leave policy out)"),
    (phased(extra=EXPECT.format(metric="success_pct", more=", app: viber")),
     "scenarios/x.yaml:17 expect[0].app: app 'viber' is not in this scenario's workload – choose one of "
     "[whatsapp, sip, game]"),
    (phased(extra=EXPECT.format(metric="collateral_pct", more=", app: whatsapp")),
     "scenarios/x.yaml:17 expect[0].metric: metric 'collateral_pct' is not kept per app for whatsapp – "
     "choose one of [success_pct, asr_pct, hit_pct, median_mos, p10_mos]"),
    (phased(extra=EXPECT.format(metric="success_pct", more=", app: game")),
     "scenarios/x.yaml:17 expect[0].metric: metric 'success_pct' is not kept per app for game – "
     "choose one of [hit_pct]"),
    (phased(extra=EXPECT.format(metric="success_pct", more=", app: 3")),
     "scenarios/x.yaml:17 expect[0].app: expected a string, got 3"),
    (STATIC + EXPECT.format(metric="success_pct", more=", policy: none, phase: 2016-01-07"),
     "scenarios/x.yaml:15 expect[0].phase: this scenario has no phases"),
    (STATIC + EXPECT.format(metric="success_pct", more=""),
     "scenarios/x.yaml:15 expect[0]: missing required key 'policy'"),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_check_reports_one_exact_line(text: str, expected: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "x.yaml").write_text(text)
    assert main(["check", "scenarios/x.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    if "[...]" in expected:  # the shipped policies' list grows
        head, tail = expected.split("[...]")
        assert err[0].startswith(head + "[") and err[0].endswith("]" + tail)
    else:
        assert err[0] == expected


def test_a_good_timeline_passes_and_runs_nothing_on_bad_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "x.yaml").write_text(phased(forget=", forget_after_s: 60"))
    assert main(["check", "scenarios/x.yaml"]) == 0
    assert main(["run", "--out", "out", "--policies", "none", "scenarios/x.yaml"]) == 2
    assert capsys.readouterr().err.strip() == ("scenarios/x.yaml: --policies: this scenario has phases: "
                                               "its policies come from them")
    # a shorter run compresses the timeline; a bad --duration is refused where the file would be
    assert main(["run", "--out", "out", "--duration", "-1", "scenarios/x.yaml"]) == 2
    assert capsys.readouterr().err.strip() == ("scenarios/x.yaml workload.duration_s: expected a number in "
                                               "(0, 315360000], got -1 (set by --duration)")
    assert not (tmp_path / "out").exists()
