"""Emulation tests: real Open vSwitch, Mininet and os-ken. Root only.

Not root: skipped. Root with something missing or broken: they fail — CI runs as
root and must run them (``make test`` installs and starts what they need).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.emu.messages import Report
from testbed.emu.session import Session
from testbed.policy.load import load_policy, resolve
from testbed.policy.model import Policy
from testbed.traffic.apps import PROFILES, FlowPlan
from topologies import TOPOLOGIES

ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if ROOT:
        return
    skip = pytest.mark.skip(reason="emulation tests need root (Mininet, Open vSwitch)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def policy(name: str, **changes: Any) -> Policy:
    """A shipped policy, with fields changed (deployment, fail_mode...)."""
    from dataclasses import replace

    return replace(load_policy(resolve(name)), **changes)


def plans(app: str, seed: int = 1) -> tuple[FlowPlan, ...]:
    return PROFILES[app].build(random.Random(seed), 24)


def edge(**params: Any) -> Any:
    """operator_edge without random loss or access jitter: packet counts are exact."""
    opts = {"subscribers": 2, "access_loss_pct": 0, "access_jitter_ms": 0}
    opts.update(params)
    return TOPOLOGIES[params.pop("name", "operator_edge")](**opts)


@pytest.fixture
def session_for(tmp_path: Path) -> Iterator[Any]:
    """``session_for(topo, policy)``: a started session, torn down after the test."""
    opened: list[Session] = []

    def make(topo: Any, pol: Policy | dict[str, Policy] | None = None, **options: Any) -> Session:
        s = Session(topo, tmp_path / f"run{len(opened)}", log=lambda line: None, **options)
        opened.append(s)
        s.__enter__()
        if pol is not None:
            s.set_policies(pol)
        return s

    yield make
    for s in reversed(opened):
        s.close()


def counts(report: Report) -> tuple[int, int]:
    """(packets, bytes) a side received."""
    return report.recv.packets, report.recv.octets
