"""report.html in a real browser: Debian's Chromium, headless, opens it from disk with the network off.

Fails on any console message (a script error, or the report's own check that an image did
not decode), on an image the browser did not decode, on a missing plot or section, and on
anything the page would fetch. The same check on a copy with one image broken must fail:
the referee can tell. Not root and no chromium: skipped; as root (CI) ``make test`` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed.cli import main

CHROMIUM = "chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom"]
PLOTS = ("Call success and adoption over time", "Call quality: MOS distribution per cell and phase",
         "Calls that got through", "What the policy hit")
# a timeline of two phases on the shipped policies; VPN adopters, so that adoption moves
SCENARIO = """
name: browser-check
seed: 7
topology: {name: operator_edge, params: {subscribers: 4}}
circumventions: {none: {}, vpn-adopters: {strategy: vpn, share: 0.5, after_failures: 1}}
workload:
  duration_s: 900
  subscribers: 200
  calls_per_hour: 1500
  apps: {whatsapp: {share: 0.5}, viber: {share: 0.2}, sip: {share: 0.3}}
  holding: {distribution: exponential, mean_s: 60}
  flows_per_hour: {web: 600, whatsapp_chat: 600}
phases:
  - {at_s: 0, date: 2016-01-01, policies: {all: none}}
  - {at_s: 450, date: 2016-01-07, policies: {all: anrt-2016}}
expect:
  - {circumvention: none, phase: 2016-01-07, app: whatsapp, metric: success_pct, max: 5}
"""


def _chromium() -> str:
    found = shutil.which(CHROMIUM)
    if found is None:
        if os.geteuid() == 0:
            pytest.fail("chromium is missing: make test installs it (Debian package)")
        pytest.skip("chromium not installed (make test installs it as root)")
    return found


def _open(page: Path, profile: Path) -> tuple[str, list[str]]:
    """(the DOM after load, the console's messages)."""
    done = subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={profile}", page.as_uri()],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    scenario = root / "browser-check.yaml"
    scenario.write_text(SCENARIO)
    assert main(["run", "--quiet", "--out", str(root / "results"), str(scenario)]) == 0
    (page,) = (root / "results" / "browser-check").glob("*/report.html")
    return page


def test_the_report_opens_clean_with_every_plot(report: Path, tmp_path: Path) -> None:
    dom, console = _open(report, tmp_path / "profile")
    assert console == []
    images = re.findall(r"<img [^>]*>", dom)
    alts = [re.search(r'alt="([^"]*)"', i).group(1) for i in images]  # type: ignore[union-attr]
    assert alts == list(PLOTS)
    assert all('data-decoded="yes"' in i for i in images), images
    # the sections for class, with what they must say
    for section in ("Phases", "What a measurement tool would have said", "The policies' rules and what they hit",
                    "The DPI's decisions on sample flows", "Expectations"):
        assert f">{section}" in dom, section
    assert "accessible / no media ≠" in dom                      # OONI's view against the call's, Jan 2016
    assert "packet 1: STUN attribute 0x4000 in packet 1 → WhatsAppCall → rule anrt-2016/ott-calls → drop" in dom
    hits = re.search(r"<td[^>]*>ott-calls</td>.*?<td[^>]*>drop</td><td>(\d+)</td>", dom)
    assert hits is not None and int(hits.group(1)) > 50          # the rule's hit count, from the run


def test_the_report_is_one_self_contained_file(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"<(link|iframe|object|embed)\b", page)
    assert not re.search(r"""\b(?:src|href|action|poster)\s*=\s*(?!["']?data:)""", page)
    assert not re.search(r"url\(|@import", page)
    assert page.count("src='data:image/png;base64,") == len(PLOTS)


def test_a_broken_image_is_caught(report: Path, tmp_path: Path) -> None:
    page = report.read_text(encoding="utf-8")
    start = page.index("base64,") + len("base64,")
    broken = tmp_path / "broken.html"
    broken.write_text(page[:start] + "AAAA" + page[start + 4:], encoding="utf-8")   # no PNG header any more
    dom, console = _open(broken, tmp_path / "profile")
    assert len(console) == 1 and f"report image did not decode: {PLOTS[0]}" in console[0]
    assert dom.count('data-decoded="no"') == 1 and dom.count('data-decoded="yes"') == len(PLOTS) - 1
