"""Policies: what an operator does to which flows. Model, loader, OpenFlow compiler."""
