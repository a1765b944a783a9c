"""A Dask worker preload for the tests: the first task a worker of the cluster runs kills that
worker's process a moment after it starts (once for the whole cluster, marked by a file).

Loaded with ``dask.config.set({"distributed.worker.preload": [this file]})`` and the marker's path
in ``CHUNKWISE_TEST_KILL_MARKER``; the marker then holds the killed process's id, or ``missed``
when the task had finished before the kill was due.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from distributed import Worker, WorkerPlugin

DELAY_SECONDS = 1.0  # a worker's first task loads the model for several seconds: it is mid-run then


class KillOnce(WorkerPlugin):
    def setup(self, worker: Worker) -> None:
        self.worker = worker

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish != "executing":
            return
        try:
            marker = os.open(os.environ["CHUNKWISE_TEST_KILL_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # a worker was killed already
        threading.Timer(DELAY_SECONDS, self._kill, (key, marker)).start()

    def _kill(self, key: Any, marker: int) -> None:
        task = self.worker.state.tasks.get(key)
        still_running = task is not None and task.state == "executing"
        os.write(marker, str(os.getpid() if still_running else "missed").encode())
        os.close(marker)
        if still_running:
            os._exit(1)


async def dask_setup(worker: Worker) -> None:
    await worker.plugin_add(KillOnce(), name="chunkwise-kill-once")
