"""Running the sweep's tasks on Dask: a LocalCluster by default, or an existing scheduler.

Both go through one ``Client``, so the code that submits and gathers is the same on
this machine and on a real cluster. The local cluster is worker processes (the
simulator holds the GIL) with one thread each, and listens on 127.0.0.1 only, its
dashboard off: nothing of ours is reachable from the network.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from testbed.sweep.tasks import CellResult, Task, run_task

CONNECT_TIMEOUT_S = 10


class ClusterError(Exception):
    """The cluster could not be reached, or a task failed on it (one line for the user)."""


@contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator[Any]:
    """A connected ``distributed.Client``: to ``scheduler`` if given, else to a LocalCluster of
    ``workers`` processes on 127.0.0.1, closed on the way out."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def run_tasks(client: Any, tasks: list[Task], done: Callable[[Task], None] | None = None) -> list[list[CellResult]]:
    """Every task's cell results, in the order of ``tasks`` whatever order they finish in.

    ``done(task)`` is called as each one finishes (for progress).
    """
    from distributed import as_completed

    run_id = uuid.uuid4().hex[:8]  # keys unique on a shared cluster
    futures = [client.submit(run_task, t.scenario, key=f"testbed-sweep-{run_id}-p{t.point}-r{t.replicate}",
                             pure=False) for t in tasks]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[list[CellResult] | None] = [None] * len(tasks)
    try:
        for future in as_completed(futures):
            i = index[future.key]
            task = tasks[i]
            try:
                results[i] = future.result()
            except Exception as exc:  # the worker's exception, re-raised here: name the task
                raise ClusterError(f"point {task.point + 1}, replicate {task.replicate + 1} "
                                   f"(seed {task.scenario.seed}) failed: {type(exc).__name__}: {exc}") from exc
            future.release()
            if done is not None:
                done(task)
    finally:
        client.cancel([f for f in futures if not f.done()])
    return [r for r in results if r is not None]
