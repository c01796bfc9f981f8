"""``testbed run --junit FILE``: each ``expect:`` check as a JUnit XML test case, for CI dashboards.

One ``<testsuite>`` named after the scenario; one ``<testcase>`` per check, its class the
scenario and the cell (and the phase, when the check names one), its name the check's
line and metric; a check that failed carries a ``<failure>`` with the check's message.
The schema is the one Jenkins, GitLab and GitHub's test reporters read (the JUnit XSD as
Ant's ``junitreport`` writes it). Times are 0: a check takes no time, and the file stays
the same bytes for the same seed. Writing it changes nothing about the exit code.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from testbed.config.errors import ConfigError


def _bounds(e: Any) -> str:
    return " and ".join(b for b in (f">= {e.min:g}" if e.min is not None else "",
                                     f"<= {e.max:g}" if e.max is not None else "") if b)


def case_names(scenario: str, check: Any) -> tuple[str, str]:
    """(classname, name) of a check: ``scenario.policy.circumvention[.phase]`` and
    ``line N: [app ]metric expected BOUNDS``."""
    e = check.expect
    parts = [scenario, e.policy, e.circumvention]
    phase = getattr(e, "phase", None)
    if phase:
        parts.append(str(phase))
    app = getattr(e, "app", None)
    metric = f"{app} {e.metric}" if app else e.metric
    return ".".join(p.replace(".", "_") for p in parts), f"line {e.line}: {metric} expected {_bounds(e)}"


def document(scenario: str, source: str, checks: list[Any]) -> bytes:
    """The JUnit XML of a run's checks (UTF-8, with its declaration)."""
    failures = sum(not k.ok for k in checks)
    counts = {"tests": str(len(checks)), "failures": str(failures), "errors": "0", "skipped": "0", "time": "0"}
    root = ET.Element("testsuites", {"name": "testbed", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": scenario, **counts})
    for k in checks:
        classname, name = case_names(scenario, k)
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": name, "file": source,
                                                 "line": str(k.expect.line), "time": "0"})
        if not k.ok:
            got = "n/a" if k.value is None else f"{k.value:g}"
            failure = ET.SubElement(case, "failure", {"type": "expectation",
                                                     "message": f"{k.expect.metric} = {got}, expected {_bounds(k.expect)}"})
            failure.text = str(k)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def check_writable(path: Path) -> None:
    """Refuse before any work a FILE that could not be written: a directory, or no such folder."""
    if path.is_dir():
        raise ConfigError("--junit", "", None, f"'{path}' is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError("--junit", "", None, f"no directory '{parent}' to write '{path.name}' in")
    if not os.access(parent, os.W_OK):
        raise ConfigError("--junit", "", None, f"cannot write in '{parent}'")


def write(path: Path, data: bytes) -> None:
    """Atomically: a reader never sees half a file (written beside it, then renamed)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
