"""Property: ``testbed check`` on any mutation of a shipped scenario, policy or endpoints file either accepts
it (exit 0) or refuses it with one line (exit 2) — never a traceback, never slow.

A scenario check accepts is then run (one cell, cut short): what check accepts, run
accepts. Two kinds of mutation: of the document's values (a leaf replaced by a hostile value, a
key dropped or added, a value wrapped), dumped back as YAML; and of its text (YAML
syntax the formats do not use spliced in, a slice cut out, a line repeated).
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = {path: path.read_text() for folder in ("scenarios", "policies", "endpoints")
        for path in sorted((ROOT / folder).glob("*.yaml"))}

HOSTILE_VALUES = st.one_of(
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30), st.floats(), st.booleans(), st.none(),
    st.text(max_size=12),
    st.sampled_from(["1e9", "1.0e+9", "../../x", "/etc/passwd", "a/b", "", " ", "none", "anrt-2016", "drop",
                     "9" * 5000, "-1", "0", ".nan", "10.0.0.0/33", "5060-5070", "x" * 300, "whatsapp",
                     "operator_edge", "WhatsAppCall"]),
    st.lists(st.integers(min_value=-5, max_value=70_000), max_size=3),
    st.dictionaries(st.sampled_from(["share", "name", "kbps", "min", "drop", "x"]), st.integers(-1, 5), max_size=2),
)
SNIPPETS = ["!!python/name:os.system ", "!!int ", "!foo ", "&a ", "*a", "<<: {a: 1}", "<<: *a", "[", "]", "{", "}",
            ": ", ",", "- ", "\t", '"', "'", "#", "\n  ", "\n", "9" * 5000, "1e9", ".inf", ".nan", "~", "yes",
            "\x00", "\x07", "\ufeff", "---\n", "...", "? ", "|\n", ">\n", "%YAML 1.1\n", "[" * 300, "{a: " * 40]


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a nested document, containers included."""
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _leaves(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _leaves(v, path + (i,))
    return out


def _mutated(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value if how == "set" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "set":
        parent[last] = value
    elif how == "drop":
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last]] if isinstance(value, int) else {"x": parent[last]}
    elif how == "add" and isinstance(parent, dict):
        parent[str(value)[:20]] = value
    return doc


@st.composite
def value_mutations(draw: st.DrawFn) -> tuple[Path, str]:
    path = draw(st.sampled_from(list(DOCS)))
    doc = yaml.safe_load(DOCS[path])
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_leaves(doc)))
        doc = _mutated(doc, where, draw(st.sampled_from(["set", "set", "drop", "wrap", "add"])), draw(HOSTILE_VALUES))
    return path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@st.composite
def text_mutations(draw: st.DrawFn) -> tuple[Path, str]:
    path = draw(st.sampled_from(list(DOCS)))
    text = DOCS[path]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "insert", "cut", "repeat"]))
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(SNIPPETS) | st.text(max_size=5)) + text[at:]
        elif kind == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 80)):]
        else:
            lines = text.splitlines(keepends=True)
            i = draw(st.integers(0, max(len(lines) - 1, 0)))
            text = "".join(lines[:i + 1] + lines[i:])
    return path, text


def _run_briefly(path: Path) -> None:
    """What check accepted, run accepts: one cell, cut to about 20 arrivals, runs to its end."""
    from testbed.config.scenario import load_scenario, overridden
    from testbed.run import run_cell

    scenario = load_scenario(path)
    w = scenario.workload
    duration = min(w.duration_s, 20 * 3600 / max(w.calls_per_hour + sum(w.flows_per_hour.values()), 1))
    scenario = overridden(scenario, duration_s=duration, policies=scenario.policies[:1],
                          circumventions=tuple(scenario.circumventions)[:1])
    run_cell(scenario, scenario.policies[0], next(iter(scenario.circumventions)))


def _check(tmp: Path, source: Path, text: str) -> None:
    target = tmp / source.parent.name / source.name  # scenarios/… or policies/…: check tells them apart so
    target.parent.mkdir(exist_ok=True)
    target.write_text(text, encoding="utf-8", errors="surrogatepass")
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["check", str(target)])
    assert "Traceback" not in err.getvalue()
    if code == 0:
        assert out.getvalue().startswith("ok ") and err.getvalue() == ""
        if source.parent.name == "scenarios":
            _run_briefly(target)
    else:
        assert code == 2, (code, err.getvalue())
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith(str(target)), lines
    assert time.perf_counter() - started < 2


SETTINGS = settings(max_examples=250, deadline=2000, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_check_value_mutations(tmp_path: Path) -> None:
    started = time.perf_counter()

    @SETTINGS
    @given(value_mutations())
    def run(case: tuple[Path, str]) -> None:
        _check(tmp_path, *case)

    run()
    assert time.perf_counter() - started < 60


def test_check_text_mutations(tmp_path: Path) -> None:
    started = time.perf_counter()

    @SETTINGS
    @given(text_mutations())
    def run(case: tuple[Path, str]) -> None:
        _check(tmp_path, *case)

    run()
    assert time.perf_counter() - started < 60
