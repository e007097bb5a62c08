"""The simulator in its own OS process, for tests, benchmarks and the quickstart.

A separate process keeps the simulator's CPU off the event loop being measured
and makes every call cross a real loopback socket, as a provider's would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx  # a runtime dependency (httpx itself is a dev one)

from engine.sim.simulator import SimulatorConfig

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
_ROOT = Path(__file__).resolve().parent.parent  # importable even without `pip install -e`


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SimulatorProcess:
    """A running `python -m engine.sim.simulator`; use `start`, then `stop` (or a `with` block)."""

    def __init__(self, process: subprocess.Popen, host: str, port: int, log):
        self._process = process
        self._log = log
        self.host, self.port = host, port
        self._http = httpx.Client(base_url=f"http://{host}:{port}", timeout=10)

    @classmethod
    def start(cls, config: SimulatorConfig, host: str = "127.0.0.1", port: int | None = None) -> SimulatorProcess:
        """Launch the simulator and wait until it answers `/healthz` (up to 20 s)."""
        port = port or _free_port(host)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "engine.sim.simulator", "--host", host, "--port", str(port),
                   "--parent-pid", str(os.getpid()), *config.to_argv()]
        # Its stderr goes to a file: shutdown with hung calls in flight logs tracebacks nobody needs,
        # and a failed start quotes the file's end.
        log = tempfile.TemporaryFile()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        sim = cls(process, host, port, log)
        try:
            sim._wait_healthy()
        except BaseException:
            sim.stop()
            raise
        return sim

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the simulator exited with code {self._process.returncode}: {self._log_tail()}")
            try:
                # Another process on the port would also answer: only our pid counts.
                if self._http.get("/healthz", timeout=1).json().get("pid") == self.pid:
                    return
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the simulator did not answer on port {self.port} within {START_TIMEOUT:g}s: "
                           f"{self._log_tail()}")

    def _log_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as `base_url`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int:
        return self._process.pid

    def stats(self) -> dict:
        """The simulator's counters (`GET /sim/stats`)."""
        return self._control("GET", "/sim/stats")

    def reset(self) -> None:
        """Zero the counters and refill the rate-limit buckets."""
        self._control("POST", "/sim/reset")

    def configure(self, **fields) -> dict:
        """Change SimulatorConfig fields of the running simulator; returns the new config."""
        return self._control("POST", "/sim/config", json=fields)

    def _control(self, method: str, path: str, **kwargs) -> dict:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 5 s)."""
        self._http.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
