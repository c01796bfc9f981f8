"""Shared test setup: the repo root and the real-capture corpus next to it.

As root (CI: ``make test``), a skipped test fails the run: ``make test`` installs every
package the tests need, so a skip there means something is missing or broken, and CI
must never pass by skipping. ``TESTBED_ALLOW_SKIPS=1`` lets a root user run a partial
setup on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

_SKIPPED: list[tuple[str, str]] = []


@pytest.fixture
def root() -> Path:
    return ROOT


def skips_fail(euid: int, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Whether a skipped test fails the session: as root, unless allowed on purpose."""
    return euid == 0 and environ.get("TESTBED_ALLOW_SKIPS", "") in ("", "0")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append((report.nodeid, reason))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _SKIPPED or not skips_fail(os.geteuid(), os.environ):
        return
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"FAILED: {len(_SKIPPED)} test(s) skipped as root – CI must run every test "
                            f"(TESTBED_ALLOW_SKIPS=1 to allow):", red=True)
        for nodeid, reason in _SKIPPED[:20]:
            reporter.write_line(f"  {nodeid}: {reason}")
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
