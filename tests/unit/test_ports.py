"""serve_app.ports: a taken port is refused, even when its listener shares it as Serve's proxy does."""

import socket
import threading
import time

import pytest

from serve_app.ports import ensure_port_free


def listener(reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse_port:  # as Ray Serve binds its proxy
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_free_port_passes_at_once():
    sock = listener()
    port = sock.getsockname()[1]
    sock.close()
    started = time.monotonic()
    ensure_port_free("127.0.0.1", port, wait_seconds=5)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_with_a_listener_is_refused_naming_it(reuse_port):
    with listener(reuse_port) as sock:
        port = sock.getsockname()[1]
        with pytest.raises(RuntimeError) as excinfo:
            ensure_port_free("127.0.0.1", port, wait_seconds=0.6)
    assert f"127.0.0.1:{port} is taken" in str(excinfo.value) and "AGENTFLOW_PORT" in str(excinfo.value)


def test_a_port_freed_while_waiting_is_taken():
    sock = listener(reuse_port=True)
    port = sock.getsockname()[1]
    threading.Timer(0.7, sock.close).start()  # as a killed service's proxy exits
    started = time.monotonic()
    ensure_port_free("127.0.0.1", port, wait_seconds=10)
    assert 0.5 < time.monotonic() - started < 5
