"""A small sweep on real Dask clusters (worker processes): the same bytes on 1 worker, on 2,
and on an existing cluster given by its scheduler's address; nothing listens beyond 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

import testbed.sweep.cluster
from testbed.cli import main
from testbed.config.scenario import load_scenario
from testbed.sweep.tasks import run_task

pytestmark = pytest.mark.slow

SCENARIO = """\
name: tiny
seed: 11
topology: {name: operator_edge, params: {subscribers: 2}}
policies: [none, anrt-2016]
circumventions:
  none: {}
  vpn-adopters: {strategy: vpn, share: 0.3, after_failures: 1}
workload:
  duration_s: 300
  calls_per_hour: 600
  subscribers: 30
  holding: {distribution: exponential, mean_s: 30}
  apps:
    whatsapp: {share: 0.6}
    sip: {share: 0.4}
"""
ARGS = ["--vary", "circumventions.vpn-adopters.share=0:1:1", "--replicates", "3"]


def _listening() -> list[str]:
    """Addresses that our process and its children (the workers) listen on."""
    me = psutil.Process()
    out = []
    for proc in [me, *me.children(recursive=True)]:
        out += [c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    return out


def _sweep(tmp: Path, out: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str, str]:
    code = main(["sweep", "scenarios/tiny.yaml", *ARGS, "--out", out, *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (run,) = (tmp / out / "tiny").iterdir()
    return run, captured.out, captured.err


def test_same_bytes_on_one_two_and_an_existing_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from distributed import LocalCluster

    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "tiny.yaml").write_text(SCENARIO)

    one, _, _ = _sweep(tmp_path, "one", "--workers", "1", "--no-html", capsys=capsys)

    real = testbed.sweep.cluster.dask_client
    listening: list[str] = []

    @contextmanager
    def spy(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with real(*args, **kwargs) as client:
            listening.extend(_listening())
            assert len(client.scheduler_info()["workers"]) == 2
            yield client

    monkeypatch.setattr(testbed.sweep.cluster, "dask_client", spy)
    two, out, err = _sweep(tmp_path, "two", "--workers", "2", capsys=capsys)
    monkeypatch.setattr(testbed.sweep.cluster, "dask_client", real)
    assert listening and set(listening) == {"127.0.0.1"}, listening

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        given, _, _ = _sweep(tmp_path, "given", "--scheduler", cluster.scheduler_address, "--no-html", capsys=capsys)

    assert (one / "sweep.json").read_bytes() == (two / "sweep.json").read_bytes() == (given / "sweep.json").read_bytes()
    assert (one / "sweep.csv").read_bytes() == (two / "sweep.csv").read_bytes()

    doc = json.loads((two / "sweep.json").read_text())
    assert [p["values"] for p in doc["points"]] == [{"circumventions.vpn-adopters.share": 0},
                                                   {"circumventions.vpn-adopters.share": 1}]
    cells = {(c["policy"], c["circumvention"]): c for c in doc["points"][1]["cells"]}
    assert len(cells) == 4 and all(len(c["success_pct"]["values"]) == 3 for c in cells.values())
    # the DPI policy stops WhatsApp calls unless users tunnel them; with everyone willing, some do
    assert cells[("anrt-2016", "none")]["ott_success_pct"]["mean"] == 0
    assert cells[("anrt-2016", "vpn-adopters")]["adopters_pct"]["mean"] > 0
    # a worker's replicate is the simulation of the scenario with that replicate's seed
    seed = doc["points"][1]["seeds"][2]
    scenario = load_scenario("scenarios/tiny.yaml")
    scenario = replace(scenario, seed=seed, circumventions={**scenario.circumventions, "vpn-adopters": replace(
        scenario.circumventions["vpn-adopters"], share=1)})
    local = {(p, c): s for p, c, s in run_task(scenario)}
    for key, cell in cells.items():
        assert cell["success_pct"]["values"][2] == local[key]["success_pct"]
    # the terminal: the table with CIs, a progress line per point, and where the results are
    assert "share  policy     circumvention" in out and " ± " in out
    assert f"report: two/tiny/{two.name}/report.html" in out
    assert sum(line.startswith("point ") for line in err.splitlines()) == 2
    assert sorted(p.name for p in two.iterdir()) == ["report.html", "sweep.csv", "sweep.json"]  # no temp files
    html = (two / "report.html").read_text()
    assert html.count("<img") >= 4 and "success % against share" in html
