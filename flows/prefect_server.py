"""A Prefect server on 127.0.0.1 for a while: for notebooks, tests and benchmarks that serve flows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from chunkwise.pipeline.errors import ConfigurationError

STARTUP_SECONDS = 120.0


class PrefectServer:
    """``prefect server start --host 127.0.0.1`` with its own ``PREFECT_HOME``, stopped by PID on exit.

    Example::

        with PrefectServer(".chunkwise/prefect") as server:
            env = {**os.environ, "PREFECT_API_URL": server.api_url}
            ...  # chunkwise serve, prefect worker start, ... with env
    """

    def __init__(self, home: str | os.PathLike[str], port: int | None = None) -> None:
        self.home = Path(home).absolute()
        self.port = port or free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process that uses this server."""
        return {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def start(self, timeout: float = STARTUP_SECONDS) -> PrefectServer:
        """Start the server and wait until it answers its health check (about 20 s)."""
        self.home.mkdir(parents=True, exist_ok=True)
        prefect = Path(sys.executable).with_name("prefect")
        command = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.home / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not server_is_healthy(self.api_url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(
                    f"the Prefect server did not start on port {self.port}: see {self.home / 'server.log'}"
                )
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        """Stop the server and the processes it started (its process group)."""
        if self.process is None:
            return
        stop_group(self.process)
        self.process = None

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_group(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Stop the process group ``process`` leads (started with ``start_new_session``): SIGTERM, a wait
    for every member to exit (a served flow finishes its run in progress), then SIGKILL."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while group_members(process.pid) and time.monotonic() < deadline:
            process.poll()  # reap the leader as soon as it exits
            time.sleep(0.2)
        if not group_members(process.pid):
            break
    process.wait(timeout=timeout)


def group_members(group: int) -> list[int]:
    """The live (not zombie) processes of process group ``group``, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process exited while being read
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


def server_is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Whether the Prefect API at ``api_url`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
