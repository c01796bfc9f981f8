"""``testbed run | sweep | check | compare | classify | replay | generate | demo | clean | list``.

Bad input is one line on stderr naming file, YAML path and line, exit code 2,
and nothing started.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from testbed.config.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _run(args: argparse.Namespace) -> int:
    from testbed.config.scenario import load_scenario, overridden
    from testbed.report import results
    from testbed.report.progress import Progress
    from testbed.run import check_expectations, run_scenario

    # command-line values go through the scenario's own schema and limits, as if the file said them
    scenario = overridden(load_scenario(args.scenario, _overrides(args)), policies=_names(args.policies),
                          circumventions=_names(args.circumventions))
    if args.junit:
        from testbed.report import junit

        junit.check_writable(Path(args.junit))
    progress = Progress(enabled=not args.quiet)
    with results.staged(Path(args.out), scenario.name, keep_on_failure=args.emulate) as staging:
        out = staging.path
        mode, extra = "sim", {"shaper": "model (simulation: link delay/jitter/loss drawn flow-level)"}
        if args.emulate:
            from testbed.emu.run import emulated_runner

            with emulated_runner(scenario, out) as runner:
                cells = run_scenario(scenario, progress.update, runner.run_cell)
                mode, extra = "emu", runner.extra()
        else:   # the per-call records only for what wants them: the CSVs, the report's plots
            cells = run_scenario(scenario, progress.update, records=not (args.no_csv and args.no_html))
        progress.done()
        checks = check_expectations(scenario, cells)
        doc = results.document(scenario, cells, checks, mode, extra)
        results.write(out, doc, cells, with_csv=not args.no_csv)
        if not args.no_html:
            from testbed.report.html import write_html

            write_html(out, doc, cells)
    out = staging.final or out
    print(results.summary_text(scenario, cells, checks), end="")
    print(f"\nresults: {out}/results.json" + ("" if args.no_html else f"  report: {out}/report.html"))
    if args.junit:
        junit.write(Path(args.junit), junit.document(scenario.name, scenario.source, checks))
        print(f"junit: {args.junit} ({len(checks)} checks)")
    if args.check_expect and not all(k.ok for k in checks):
        print(f"{sum(not k.ok for k in checks)} expectation(s) failed", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from testbed.report.results import staged
    from testbed.sweep import html, results
    from testbed.sweep.cluster import ClusterError, dask_client, run_tasks
    from testbed.sweep.progress import SweepProgress
    from testbed.sweep.tasks import tasks_of
    from testbed.sweep.vary import sweep_points

    if args.replicates < 2:
        raise ConfigError(f"--replicates {args.replicates}", "", None,
                          "a confidence interval needs at least 2 replicates")
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}", "", None, "expected at least 1 worker")
    varies, points = sweep_points(args.scenario, args.vary)
    tasks = tasks_of(points, args.replicates)
    base = points[0].scenario
    # the results directory first: --out is checked before the work, and only a complete sweep is renamed
    # into place (testbed.report.results.staged)
    try:
        with staged(Path(args.out), base.name, prefix="sweep-") as staging:
            progress = SweepProgress([", ".join(f"{k}={v}" for k, v in p.values.items()) for p in points],
                                     args.replicates, enabled=not args.quiet)
            progress.start()
            with dask_client(args.scheduler, args.workers) as client:
                cell_results = run_tasks(client, tasks, progress.task_done)
            progress.finish()
            doc = results.document(base.name, base.source, varies, points, tasks, cell_results, args.replicates)
            results.write(staging.path, doc)
            if not args.no_html:
                results.write_atomic(staging.path / "report.html", html.render(doc))
    except ClusterError as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    out = staging.final
    print(results.table_text(doc), end="")
    print(f"\nresults: {out}/sweep.json  {out}/sweep.csv" + ("" if args.no_html else f"  report: {out}/report.html"))
    return EXIT_OK


def _overrides(args: argparse.Namespace) -> list[Any]:
    from testbed.config.overrides import Override

    out = []
    for flag, path, text in (("--seed", "seed", args.seed), ("--duration", "workload.duration_s", args.duration),
                             ("--holding", "workload.holding.mean_s", args.holding)):
        if text is None:
            continue
        try:
            value: float = int(text) if flag == "--seed" or text.strip().lstrip("+-").isdigit() else float(text)
        except ValueError:
            what = "an integer" if flag == "--seed" else "a number of seconds"
            got = repr(text) if len(text) <= 40 else f"{text[:40]!r}… ({len(text)} characters)"
            raise ConfigError(flag, "", None, f"expected {what}, got {got}") from None
        out.append(Override(path, value, flag))
    return out


def _names(option: str | None) -> tuple[str, ...] | None:
    return tuple(option.split(",")) if option else None


def _check(args: argparse.Namespace) -> int:
    from testbed.config.check import check_paths

    errors = 0
    for path, error in check_paths(args.paths):
        if error is None:
            print(f"ok    {path}")
        else:
            errors += 1
            print(error, file=sys.stderr)
    return EXIT_BAD_INPUT if errors else EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from testbed.report.compare import compare_files

    print(compare_files(Path(args.a), Path(args.b)), end="")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from testbed.config.scenario import topology_options
    from testbed.dpi.catalog import APPS
    from testbed.dpi.signatures import default_signatures
    from testbed.policy.load import available
    from testbed.traffic.apps import PROFILES
    from testbed.traffic.circumvention import STRATEGIES
    from topologies import TOPOLOGIES

    print("topologies:")
    for name in TOPOLOGIES:
        opts = ", ".join(f"{k}={v}" for k, v in topology_options(name).items())
        print(f"  {name:16} {opts}")
    print("policies:\n  " + "  ".join(available()))
    print("traffic profiles:")
    for p in PROFILES.values():
        print(f"  {p.name:14} {p.category:5} {p.title}")
    print("circumvention strategies:")
    for s in STRATEGIES.values():
        print(f"  {s.name:14} {s.description}")
    print("signatures:\n  " + "  ".join(s.name for s in default_signatures()))
    print("apps the DPI names:\n  " + "  ".join(f"{a}({c})" for a, c in APPS.items()))
    print("endpoint knowledge (endpoints/*.yaml):")
    for line in endpoint_lines():
        print("  " + line)
    return EXIT_OK


def endpoint_lines() -> list[str]:
    """Each service of endpoints/: what it names, its blocks, ports and names, and their sources."""
    from testbed.config.endpoints import default_knowledge

    lines = []
    for s in default_knowledge().services:
        apps = ", ".join(f"{role} {app}" for role, app in (("call", s.call_app), ("by address", s.other_app),
                                                          ("by name", s.sni_app)) if app)
        lines.append(f"{s.service} [{s.file}]: {apps}")
        for b in s.networks:
            v4 = sum(p.version == 4 for p in b.prefixes)
            asn = f" from {', '.join(b.asn)}" if b.asn else ""
            lines.append(f"    {v4} IPv4 + {len(b.prefixes) - v4} IPv6 prefixes{asn} (e.g. {b.prefixes[0]}) [{b.source}]")
        for p in s.ports:
            ranges = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in p.ports)
            only = " (calls only here)" if s.calls_on_ports_only else ""
            lines.append(f"    {p.l4} {ranges}: {p.what}{only} [{p.source}]")
        for n in s.sni:
            lines.append(f"    names {', '.join(n.names)} [{n.source}]")
        for src in s.sources:
            lines.append(f"    [{src.id}] {src.title}, {src.date}: {src.url}")
    return lines


def _classify(args: argparse.Namespace) -> int:
    from testbed.dpi.replay import classify_main

    return classify_main(args)


def _replay(args: argparse.Namespace) -> int:
    from testbed.dpi.replay import replay_main

    return replay_main(args)


def _generate(args: argparse.Namespace) -> int:
    from testbed.config import limits
    from testbed.config.files import replaced
    from testbed.packets.capture import write_ip
    from testbed.traffic.apps import PROFILES
    from testbed.traffic.generate import generate

    apps = list(PROFILES) if args.app == "all" else args.app.split(",")
    if args.calls < 1:
        raise ConfigError("--calls", "", None, f"expected an integer >= 1, got {args.calls}")
    if not 1 <= args.packets <= limits.MAX_PACKETS_PER_FLOW:
        raise ConfigError("--packets", "", None, f"expected an integer in [1, {limits.MAX_PACKETS_PER_FLOW}], "
                                                 f"got {args.packets}")
    asked = args.calls * len(apps) * args.packets
    if asked > limits.MAX_GENERATE_PACKETS:
        raise ConfigError("--calls", "", None, f"at most {limits.MAX_GENERATE_PACKETS} packets; this asks for up "
                                               f"to {asked} (--calls × apps × --packets)")
    try:
        packets, flows = generate(apps, args.circumvention, args.calls, args.seed, packets_per_flow=args.packets)
    except ValueError as exc:
        print(f"testbed generate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with replaced(args.pcap, f"--pcap {args.pcap}") as tmp:
        write_ip(tmp, packets)
    print(f"{args.pcap}: {len(packets)} packets, {len(flows)} flows of {args.calls} x {', '.join(apps)}"
          f"{'' if args.circumvention == 'none' else ' via ' + args.circumvention}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from testbed.demo.shell import main as demo_main

    return demo_main(args.topology, args.policy, args.emulate, args.script)


def _clean(args: argparse.Namespace) -> int:
    from testbed.emu.clean import clean

    for line in clean():
        print(line)
    return EXIT_OK


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Parser(argparse.ArgumentParser):
    """Usage errors are bad input too: one line, exit 2 (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="testbed", description="VoIP-blocking DPI testbed")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario (simulation; --emulate for Mininet)")
    run.add_argument("scenario")
    run.add_argument("--emulate", action="store_true", help="real packets on Mininet + OVS + os-ken (root)")
    run.add_argument("--seed", help="override the scenario's seed")
    run.add_argument("--duration", help="override workload.duration_s (seconds)")
    run.add_argument("--holding", help="override workload.holding.mean_s (seconds)")
    run.add_argument("--policies", help="run only these of the scenario's policies (comma-separated)")
    run.add_argument("--circumventions", help="run only these of the scenario's circumventions")
    run.add_argument("--out", default="results", help="results root (default: results/)")
    run.add_argument("--check-expect", action="store_true", help="exit 1 if an expect: entry fails")
    run.add_argument("--junit", metavar="FILE", help="write each expect: check as a JUnit XML test case")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--no-html", action="store_true", help="skip report.html and its plots")
    run.add_argument("--no-csv", action="store_true",
                     help="skip the per-call and per-flow CSVs (with --no-html the run keeps no per-call record "
                          "in memory)")
    run.set_defaults(func=_run)

    sweep = sub.add_parser("sweep", help="run a scenario over parameter values × replicates on Dask (simulation)")
    sweep.add_argument("scenario")
    sweep.add_argument("--vary", action="append", required=True, metavar="PATH=VALUES",
                       help="a dotted path into the scenario and its values: a,b,c or a:b:step (b included); "
                            "repeat for a cross product")
    sweep.add_argument("--replicates", type=int, default=5, help="runs per point, each with its own seed (>= 2; default 5)")
    sweep.add_argument("--scheduler", metavar="ADDR", help="an existing Dask scheduler (tcp://host:8786); "
                                                          "default: a local cluster on 127.0.0.1")
    sweep.add_argument("--workers", type=int, default=_cpus(), help=f"local cluster's worker processes (default {_cpus()})")
    sweep.add_argument("--out", default="results", help="results root (default: results/)")
    sweep.add_argument("--quiet", action="store_true", help="no progress")
    sweep.add_argument("--no-html", action="store_true", help="skip report.html and its plots")
    sweep.set_defaults(func=_sweep)

    check = sub.add_parser("check", help="validate scenarios and policies (no root, no network)")
    check.add_argument("paths", nargs="*", help="files or folders (default: scenarios/ and policies/)")
    check.set_defaults(func=_check)

    compare = sub.add_parser("compare", help="compare two results.json")
    compare.add_argument("a")
    compare.add_argument("b")
    compare.set_defaults(func=_compare)

    classify = sub.add_parser("classify", help="per-flow DPI table of captures")
    classify.add_argument("captures", nargs="+")
    classify.add_argument("--json", action="store_true", help="JSON Lines, one object per flow")
    classify.set_defaults(func=_classify)

    replay = sub.add_parser("replay", help="what a policy would do to each flow of captures")
    replay.add_argument("captures", nargs="+")
    replay.add_argument("--policy", required=True, help="policy name or file")
    replay.add_argument("--json", action="store_true", help="JSON Lines, one object per flow")
    replay.set_defaults(func=_replay)

    gen = sub.add_parser("generate", help="write the packets of synthetic calls and flows to a pcap")
    gen.add_argument("--app", required=True, help="traffic profile(s), comma-separated, or 'all'")
    gen.add_argument("--circumvention", default="none", help="strategy wrapping the calls (default: none)")
    gen.add_argument("--calls", type=int, default=10, help="calls (or flows) of each app (default: 10)")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--packets", type=int, default=48, help="packets built per flow (default: 48)")
    gen.add_argument("--pcap", required=True, help="the capture to write")
    gen.set_defaults(func=_generate)

    demo = sub.add_parser("demo", help="a console to place calls one at a time and watch the DPI (class demos)")
    demo.add_argument("--topology", help="a topology name, or {name: ..., params: {...}} "
                                         "(default: operator_edge with 2 subscribers)")
    demo.add_argument("--policy", default="none", help="the operator's policy at the start (default: none)")
    demo.add_argument("--emulate", action="store_true", help="on the emulated network (root) instead of the simulator")
    demo.add_argument("--script", metavar="FILE", help="run a lesson's commands and print the transcript")
    demo.set_defaults(func=_demo)

    clean = sub.add_parser("clean", help="remove what an emulation left behind (ours only)")
    clean.set_defaults(func=_clean)

    lst = sub.add_parser("list", help="topologies, policies, apps, strategies, signatures")
    lst.set_defaults(func=_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: Any = args.func(args)
        sys.stdout.flush()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`testbed classify --json ... | head -1`): stop quietly, as cat
        # would; stdout goes to /dev/null so that the interpreter's last flush cannot fail too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
