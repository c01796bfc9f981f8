"""A short morocco-2016 on the emulated network: its timeline reloads the running switches.

The scenario file as shipped, compressed into one minute (phases scaled, fewer hosts, an
Imo-heavy mix so that each phase has calls of it), one cell. What must hold on real packets:
Imo calls pass before Maroc Telecom's May phase and are dropped after it, on Maroc Telecom's
switch only, and pass again after the lift; the controller is never restarted (one
connection per switch) and each switch's pipeline is of the generation its reloads made it;
calls in progress across a reload go on (the operator's own calls all complete).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.config.overrides import Override
from testbed.config.scenario import load_scenario, overridden
from testbed.emu import ofctl
from testbed.emu.messages import Connected, Reloaded
from testbed.emu.run import emulated_runner
from testbed.policy.compiler import GENERATION_SHIFT, PRIO_VERDICT
from testbed.run import run_scenario

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MAY, LIFT = 18.0, 48.0
SHORT = [
    Override("topology.params.subscribers", 2, "test"),
    Override("topology.params.fixed_subscribers", 1, "test"),
    Override("workload.duration_s", 60, "test"),
    Override("workload.subscribers", 36, "test"),
    Override("workload.calls_per_hour", 5400, "test"),
    Override("workload.apps", {"imo": {"share": 0.5}, "whatsapp": {"share": 0.2}, "sip": {"share": 0.3}}, "test"),
    Override("workload.holding", {"distribution": "exponential", "mean_s": 4}, "test"),
    Override("workload.ring_s", 1, "test"),
    Override("workload.setup_timeout_s", 4, "test"),
    Override("workload.retry.backoff_s", 2, "test"),
    Override("workload.flows_per_hour", {"game": 1800, "whatsapp_chat": 600}, "test"),
    *[Override(f"phases[{i}].at_s", t, "test") for i, t in enumerate((0, 10, 14, MAY, LIFT))],
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    scenario = overridden(load_scenario(REPO / "scenarios" / "morocco-2016.yaml", SHORT), circumventions=("none",))
    out = tmp_path_factory.mktemp("phases")
    with emulated_runner(scenario, out) as runner:
        (cell,) = run_scenario(scenario, None, runner.run_cell)
        session = runner.session
        tables = {dpi: ofctl.dump_flows(dpi) for dpi in session.dpis}
        events = list(session.events)
        operators = {dpi: str(session.topo.nodeInfo(dpi)["operator"]) for dpi in session.dpis}
    return {"cell": cell, "tables": tables, "events": events, "operators": operators}


def _calls(run: dict, app: str, operator: str = "", lo: float = 0, hi: float = 1e9, *, other: bool = False) -> list:
    """The app's call attempts (not busy) started in [lo, hi), on ``operator`` (or, ``other``, not on it)."""
    return [c for c in run["cell"].calls if c.app == app and c.outcome != "busy" and lo <= c.t_start < hi
            and (not operator or (c.operator == operator) != other)]


def test_imo_is_dropped_from_its_phase_on_maroc_telecom_only(run: dict) -> None:
    before = _calls(run, "imo", "iam", 0, MAY - 0.5)
    during = _calls(run, "imo", "iam", MAY + 0.5, LIFT - 0.5)
    after = _calls(run, "imo", "iam", LIFT + 0.5)
    others = _calls(run, "imo", "iam", MAY + 0.5, LIFT - 0.5, other=True)
    print(f"Imo on iam: {len(before)} before May, {len(during)} in May, {len(after)} after the lift; "
          f"{len(others)} on the others in May")
    assert before and during and after and len(others) >= 3
    assert all(c.action == "allow" and c.outcome in ("completed", "no-answer") for c in before), before
    assert all(c.action == "drop" and c.dpi_app == "IMO" and c.outcome != "completed" for c in during), during
    assert all(c.rule == "anrt-2016-imo/ott-calls" for c in during)
    assert all(c.action == "allow" for c in after + others), after + others
    assert any(c.outcome == "completed" for c in others) and any(c.outcome == "completed" for c in after)
    # per-phase cells say the same
    may = next(p for p in run["cell"].phases if p.step.date == "2016-05-15")
    assert may.policies == {"iam": "anrt-2016-imo", "meditel": "anrt-2016-all-lines", "inwi": "anrt-2016-all-lines"}
    assert may.per_app["imo"]["hit_pct"] > 0
    jan = next(p for p in run["cell"].phases if p.step.date == "2016-01-07")
    assert jan.per_app["imo"]["hit_pct"] == 0


def test_the_switches_were_reloaded_not_restarted(run: dict) -> None:
    cell, events = run["cell"], run["events"]
    reloads = cell.extra["reloads"]
    assert [sorted(r["policies"].values()) for r in reloads] == [
        ["anrt-2016-mobile"] * 3, ["anrt-2016-all-lines"] * 3, ["anrt-2016-imo"], ["none"] * 3]
    assert reloads[2]["policies"] == {"tbdpi1": "anrt-2016-imo"}   # one operator's switch only
    assert all(r["wall_end"] - r["wall_start"] < 2 for r in reloads), reloads
    # one controller for the whole cell: each switch connected once, then confirmed 3 or 4 reloads
    assert sorted(e.dpid for e in events if isinstance(e, Connected)) == sorted(
        {e.dpid for e in events if isinstance(e, Reloaded)})
    generations = {dpi: {e.cookie >> GENERATION_SHIFT for e in table if e.priority != PRIO_VERDICT}
                   for dpi, table in run["tables"].items()}
    assert generations == {"tbdpi1": {4}, "tbdpi2": {3}, "tbdpi3": {3}}
    # after the lift no proactive entry is left (none has no rules), only the pipeline and verdicts
    assert all(e.priority in (0, 100, PRIO_VERDICT) for table in run["tables"].values() for e in table)


def test_calls_across_a_reload_go_on(run: dict) -> None:
    cell = run["cell"]
    sip = _calls(run, "sip")
    failed = [(round(c.t_start, 2), c.operator, c.subscriber, c.outcome, c.action, c.loss_pct, c.pdd_ms)
              for c in sip if c.outcome not in ("completed", "no-answer")]
    assert sip and not failed, failed
    spanning = [c for c in cell.calls if c.outcome == "completed" and any(
        c.t_start < t < c.t_start + c.duration_s for t in (10, 14, MAY, LIFT))]
    print(f"{len(spanning)} completed calls spanned a reload")
    assert len(spanning) >= 3
    assert all(c.mos > 3.5 for c in spanning)
    # games: hit on Maroc Telecom in May only (the behaviour rule), never elsewhere
    games = [f for f in cell.flows if f.app == "game"]
    hit = [f.t_start for f in games if f.action != "allow"]
    print(f"{len(hit)} of {len(games)} game flows hit")
    assert hit and all(MAY <= t < LIFT for t in hit)
