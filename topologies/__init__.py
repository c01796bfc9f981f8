"""Topologies by name. Each is a Mininet ``Topo`` subclass overriding only ``build``."""

from __future__ import annotations

from typing import Any

from topologies.dumbbell import Dumbbell
from topologies.operator_edge import OperatorEdge, ThreeOperators

TOPOLOGIES: dict[str, Any] = {
    "operator_edge": OperatorEdge,
    "three_operators": ThreeOperators,
    "dumbbell": Dumbbell,
}
