"""The DPI engine: flow table, signatures, behavioural detector, classifier. Pure: no I/O."""
