"""Topologies by name. Each is a Mininet ``Topo`` subclass overriding only ``build``."""

from __future__ import annotations

from topologies.dumbbell import Dumbbell
from topologies.operator_edge import OperatorEdge, ThreeOperators

TOPOLOGIES = {
    "operator_edge": OperatorEdge,
    "three_operators": ThreeOperators,
    "dumbbell": Dumbbell,
}
