"""Corpus tests read ../shared/corpus in place; they fail loudly when it is missing."""

from __future__ import annotations

import pytest
from groundtruth import CORPUS, LABELS, Outcome, outcomes

from testbed.policy.load import POLICY_DIR, load_policy


@pytest.fixture(scope="session", autouse=True)
def corpus_present() -> None:
    assert LABELS.is_file(), f"the real-capture corpus is missing: expected {CORPUS} (see its README)"


@pytest.fixture(scope="session")
def anrt_outcomes() -> list[Outcome]:
    """Every labelled flow under policies/anrt-2016.yaml, computed once per session."""
    return outcomes(load_policy(POLICY_DIR / "anrt-2016.yaml"))
