"""Whether the service's HTTP port is free before Serve takes it.

Serve binds its proxy with SO_REUSEPORT, so a second `agentflow serve` on a
port in use would not fail: the two services would share the port, each
answering some requests from its own store. And the Serve proxy of a service
that was killed outlives it by a few seconds, sharing the port the same way.
"""

from __future__ import annotations

import socket
import time

PORT_WAIT_SECONDS = 10.0  # about three times what a killed service's proxy takes to exit


def ensure_port_free(host: str, port: int, wait_seconds: float = PORT_WAIT_SECONDS) -> None:
    """Return once `host:port` could be bound; RuntimeError naming it if it stays taken."""
    deadline = time.monotonic() + wait_seconds
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR: connections of an earlier server left in TIME_WAIT do not count; a listener does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return
            except OSError as exc:
                reason = exc.strerror or str(exc)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{host}:{port} is taken ({reason}): another process serves on it; stop it, "
                               f"or choose another port with AGENTFLOW_PORT")
        time.sleep(0.5)
