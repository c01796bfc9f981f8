"""Probes inside the testbed: what a measurement tool would have concluded, beside what calls got.

- ``ooni``: OONI's app tests (WhatsApp ts-018, Telegram ts-020, Signal ts-029) as data —
  the names they resolve, the endpoints they connect to, the TLS handshakes and HTTP
  requests they make — and their verdict, ``accessible`` / ``blocked``;
- ``reach``: those tests' flows as bytes (for the simulator's classifier) and what a
  DPI's action on them means for each operation (resolve, connect, TLS, HTTP);
- ``calls``: a short call per app through the workload's own call path, measured —
  ``call ok`` / ``no media`` / ``degraded`` / ``blocked``;
- ``run``: both probes on a cell's network, their records kept apart from the workload's.

The emulation serves the probes for real (``testbed.probe.serve``: a DNS resolver and
TLS/HTTP front ends; ``testbed.probe.client``: the probe in a subscriber's namespace).
"""
