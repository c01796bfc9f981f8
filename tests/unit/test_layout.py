"""The test tree as pytest collects it: `pytest tests` stops at collection if two test modules
share a basename (rootdir-relative imports, no packages), as CI found twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_modules_have_unique_basenames() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []
