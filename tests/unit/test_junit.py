"""``testbed run --junit FILE``: every expect: check a JUnit test case; the exit code as without it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from testbed.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """quality-policies with one more check, which fails: MOS under `none` is well above 2."""
    text = (ROOT / "scenarios" / "quality-policies.yaml").read_text()
    text = text.replace("expect:\n", "expect:\n  - {policy: none, circumvention: none, metric: median_mos, max: 2}\n")
    path = tmp_path_factory.mktemp("scn") / "quality-policies.yaml"
    path.write_text(text)
    return path


def test_each_check_is_a_case_and_the_failure_says_why(scenario: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "junit.xml"
    assert main(["run", "--quiet", "--no-html", "--duration", "300", "--out", str(tmp_path / "r"),
                 "--junit", str(report), str(scenario)]) == 0     # no --check-expect: exit 0 as before
    assert f"junit: {report} (4 checks)" in capsys.readouterr().out
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "1"
    (suite,) = root
    assert suite.get("name") == "quality-policies" and suite.get("failures") == "1"
    cases = list(suite)
    assert [c.get("classname") for c in cases] == ["quality-policies.none.none", "quality-policies.degrade.none",
                                                   "quality-policies.degrade.none",
                                                   "quality-policies.throttle-udp.none"]
    assert cases[0].get("name") == "line 29: median_mos expected <= 2"
    assert cases[0].get("file") == str(scenario) and cases[0].get("line") == "29"
    (failure,) = cases[0]
    mos = float(failure.get("message", "").split(" = ")[1].split(",")[0])
    assert failure.tag == "failure" and 4 < mos < 4.5 and failure.get("message", "").endswith("expected <= 2")
    assert failure.text is not None and failure.text.startswith("FAIL line 29: none × none")
    assert all(len(c) == 0 for c in cases[1:])      # the three shipped checks hold


def test_exit_code_with_check_expect_unchanged(scenario: Path, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    assert main(["run", "--quiet", "--no-html", "--duration", "300", "--out", str(tmp_path / "r"),
                 "--check-expect", "--junit", str(report), str(scenario)]) == 1
    assert ET.parse(report).getroot().get("failures") == "1"


def test_a_file_that_cannot_be_written_is_refused_before_any_work(scenario: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    assert main(["run", "--quiet", "--out", str(out), "--junit", str(tmp_path / "no" / "j.xml"), str(scenario)]) == 2
    assert capsys.readouterr().err.strip() == f"--junit: no directory '{tmp_path / 'no'}' to write 'j.xml' in"
    assert main(["run", "--quiet", "--out", str(out), "--junit", str(tmp_path), str(scenario)]) == 2
    assert capsys.readouterr().err.strip() == f"--junit: '{tmp_path}' is a directory"
    assert not out.exists()


def test_a_phase_and_an_app_name_the_case(tmp_path: Path) -> None:
    scenario = tmp_path / "phased.yaml"
    scenario.write_text("""
name: phased
seed: 3
topology: {name: operator_edge, params: {subscribers: 2}}
workload: {duration_s: 600, subscribers: 50, calls_per_hour: 600, apps: {whatsapp: {share: 0.6}, sip: {share: 0.4}}}
phases:
  - {at_s: 0, date: 2016-01-01, policies: {all: none}}
  - {at_s: 300, date: 2016-01-07, policies: {all: anrt-2016}}
expect:
  - {circumvention: none, phase: 2016-01-07, app: whatsapp, metric: success_pct, max: 5}
  - {circumvention: none, phase: 2016-01-01, app: whatsapp, metric: success_pct, max: 5}
""")
    report = tmp_path / "j.xml"
    assert main(["run", "--quiet", "--no-html", "--out", str(tmp_path / "r"), "--junit", str(report), str(scenario)]) == 0
    cases = list(ET.parse(report).getroot()[0])
    assert [(c.get("classname"), c.get("name"), len(c)) for c in cases] == [
        ("phased.timeline.none.2016-01-07", "line 10: whatsapp success_pct expected <= 5", 0),
        ("phased.timeline.none.2016-01-01", "line 11: whatsapp success_pct expected <= 5", 1)]
    assert "2016-01-01, whatsapp: success_pct = 100" in (cases[1][0].text or "")
