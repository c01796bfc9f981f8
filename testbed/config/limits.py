"""Every limit on what the testbed reads, in one place (the README's "Bad input" lists them).

The YAML loader, the schemas, ``testbed check``, ``testbed run`` and every other command
that reads a file import their bounds from here, so what one accepts the others accept.
Each bound is stated in the error that enforces it.
"""

from __future__ import annotations

import re
from typing import Any

# --- files -------------------------------------------------------------------------------
MAX_YAML_BYTES = 1 << 20         # a scenario, policy or data file (the shipped ones are < 4 KiB)
MAX_RESULTS_BYTES = 256 << 20    # a results.json for `compare` (an emulated run lists every call)
MAX_JSON_DEPTH = 64              # nesting of a results.json (ours: 5)

# --- YAML documents ----------------------------------------------------------------------
MAX_DEPTH = 16                   # nesting of mappings and lists (the shipped files: 5)
MAX_NODES = 50_000               # values (scalars, mappings, lists) in one document
MAX_INT_CHARS = 20               # an integer's digits (2**63 has 19); longer ones are refused unread

# --- names that become file and directory names (results/<scenario>/, calls-<policy>--<circ>.csv)
MAX_NAME_CHARS = 64
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_RULE = f"letters, digits, '.', '_' or '-', not starting with '.', '_' or '-', at most {MAX_NAME_CHARS}"

# --- work a run may ask for --------------------------------------------------------------
MAX_CALLS_PER_CELL = 1_000_000   # expected call arrivals (calls_per_hour × duration_s / 3600)
MAX_FLOWS_PER_CELL = 2_000_000   # expected non-VoIP flows (flows_per_hour summed × duration_s / 3600)
MAX_CELLS = 64                   # policies × circumventions
MAX_SUBSCRIBERS = 1_000_000      # workload.subscribers (each is an object in every cell)

# --- testbed generate --------------------------------------------------------------------
MAX_GENERATE_PACKETS = 2_000_000  # --calls × apps × --packets (about 25 s and 1 GB here)
MAX_PACKETS_PER_FLOW = 10_000     # --packets

# --- topologies: what a topology can build -------------------------------------------------
MAX_SUBSCRIBER_HOSTS = 250       # per operator: one address block each, one agent a host (emulation)
MAX_MS = 10_000.0                # link delay and jitter
MAX_MBIT = 100_000.0             # link bandwidth
MAX_COUNT = 1_000_000            # other counts (relay capacity...)


def is_name(text: str) -> bool:
    """A safe slug: usable as a file or directory name anywhere, never a path."""
    return len(text) <= MAX_NAME_CHARS and NAME_RE.fullmatch(text) is not None


def slug(text: str) -> str:
    """A safe file-name part for any label (a policy given by path, ``../p/strict.yaml``)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._-")[:MAX_NAME_CHARS]
    return out or "_"


def topology_bounds(param: str, annotation: Any,
                    own: dict[str, tuple[float, float]]) -> tuple[float, float, bool, bool]:
    """(low, high, integer, low excluded) of a topology's ``build`` option, from its unit and type.

    ``own`` is the topology's ``PARAM_BOUNDS`` (what only it knows: how many operators
    it has names and address blocks for). Counts are integers; ms, % and Mbit/s are not.
    """
    integer = annotation in (int, "int")
    if param in own:
        lo, hi = own[param]
    elif param == "subscribers":
        lo, hi = 1, MAX_SUBSCRIBER_HOSTS
    elif param.endswith("_pct"):
        lo, hi = 0, 100
    elif param.endswith("_ms"):
        lo, hi = 0, MAX_MS
    elif param == "bw" or param.endswith("_bw"):
        return 0, MAX_MBIT, integer, True
    else:
        lo, hi = 0, MAX_COUNT
    return lo, hi, integer, False


def work_error(calls: float, flows: float, cells: int) -> str | None:
    """Why a run asking for this much is refused up front, or None."""
    if calls > MAX_CALLS_PER_CELL:
        return (f"at most {MAX_CALLS_PER_CELL} calls per cell; this scenario asks for {calls:.0f} "
                f"(calls_per_hour × duration_s / 3600)")
    if flows > MAX_FLOWS_PER_CELL:
        return (f"at most {MAX_FLOWS_PER_CELL} flows per cell; this scenario asks for {flows:.0f} "
                f"(flows_per_hour summed × duration_s / 3600)")
    if cells > MAX_CELLS:
        return f"at most {MAX_CELLS} cells (policies × circumventions); this scenario has {cells}"
    return None
