"""As root (CI), a skipped test fails the run: tests/conftest.py, run on a throwaway suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SUITE = '''
import pytest
def test_runs(): pass
@pytest.mark.skip(reason="tshark (apt) is missing")
def test_skipped(): pass
@pytest.mark.xfail(reason="known", strict=True)
def test_known(): assert False
'''


def _pytest(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp,
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=60)


def test_a_skip_fails_the_run_as_root(root: Path, tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    shutil.copy(root / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "test_suite.py").write_text(SUITE)
    strict = _pytest(tmp_path, TESTBED_ALLOW_SKIPS="0")
    allowed = _pytest(tmp_path, TESTBED_ALLOW_SKIPS="1")
    assert allowed.returncode == 0, allowed.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in strict.stdout
    if os.geteuid() == 0:
        assert strict.returncode == 1
        assert ("FAILED: 1 test(s) skipped as root – CI must run every test (TESTBED_ALLOW_SKIPS=1 to allow):\n"
                "  tests/test_suite.py::test_skipped: Skipped: tshark (apt) is missing") in strict.stdout
    else:  # a user without root skips what needs root, and passes on what ran
        assert strict.returncode == 0
