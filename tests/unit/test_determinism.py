"""Same seed → byte-identical results.json; another seed → different results."""

from __future__ import annotations

from pathlib import Path

from testbed.cli import main


def _run(root: Path, out: Path, *extra: str) -> bytes:
    assert main(["run", "--quiet", "--no-html", "--duration", "900", "--out", str(out), *extra,
                 str(root / "scenarios" / "morocco-2016.yaml")]) in (0, 1)
    (path,) = out.glob("morocco-2016/*/results.json")
    return path.read_bytes()


def test_same_seed_same_bytes(root: Path, tmp_path: Path) -> None:
    first = _run(root, tmp_path / "a")
    second = _run(root, tmp_path / "b")
    assert first == second
    assert b'"success_pct"' in first


def test_other_seed_other_results(root: Path, tmp_path: Path) -> None:
    first = _run(root, tmp_path / "a")
    other = _run(root, tmp_path / "c", "--seed", "7")
    assert first != other
    assert other.replace(b'"seed": 7', b'"seed": 2016') != first  # not just the seed field
