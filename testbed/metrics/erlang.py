"""Erlang-B: the blocking probability of N servers offered A erlangs, lost calls cleared."""

from __future__ import annotations


def erlang_b(offered_erlangs: float, servers: int) -> float:
    """B(A, N) by the stable recursion B(A, 0) = 1, B(A, n) = A B / (n + A B)."""
    b = 1.0
    for n in range(1, servers + 1):
        b = offered_erlangs * b / (n + offered_erlangs * b)
    return b
