"""The DPI engine: flow table, signatures, behavioural detector, classifier — pure, no I/O.

``replay.py`` alone reads captures, for ``testbed classify`` and ``testbed replay``.
"""
