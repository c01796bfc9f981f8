"""A policy's rules as the report shows them (pure; what each rule decided: ``Tally.rule_hits``)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from testbed.policy.model import Match, Policy


def _value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [f"{v[0]}-{v[1]}" if isinstance(v, tuple) and v[0] != v[1] else
                str(v[0]) if isinstance(v, tuple) else str(v) for v in value]
    return value


def match_dict(m: Match) -> dict[str, Any]:
    """The fields a match sets, as the policy file would write them (port ranges as ``lo-hi``)."""
    return {f.name: _value(getattr(m, f.name)) for f in fields(m) if getattr(m, f.name) not in (None, (), "")}


def policy_doc(p: Policy) -> dict[str, Any]:
    return {"description": p.description, "deployment": p.deployment, "fail_mode": p.fail_mode,
            "inspect_packets": p.inspect_packets,
            "rules": [{"name": r.name, "label": r.label(p.name), "match": match_dict(r.match), "action": str(r.action)}
                      for r in p.rules]}
