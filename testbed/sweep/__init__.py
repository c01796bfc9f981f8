"""Sweeps: a scenario over parameter values × replicates, run on Dask, with 95% CIs.

``vary`` (points from ``--vary``, validated by the scenario loader), ``tasks`` (seeds,
the worker's function), ``cluster`` (Dask), ``stats`` (Student t), ``results``
(sweep.json/.csv, the table), ``html`` (the report), ``progress``.
"""
